"""An encoder's fast tokenizer, ready for pre-split words.

Apart from model/build.py so that loading a tokenizer does not import transformers' model classes
(about 130 MB of memory): an ONNX export is served without them.
"""

from __future__ import annotations

from typing import Any

from transformers import AutoTokenizer

from bertner.errors import UserError


def _splits_like_running_text(tokenizer: Any) -> bool:
    """Whether pre-split words get the ids they get inside running text.

    A byte-level BPE (RoBERTa) without a prefix space encodes the pre-split word `b` as `b`, but the `b` of
    "a b" as `Ġb`, the form it saw in pretraining (docs/FIELD.md #4). transformers 4 refused such a
    tokenizer with a ValueError; transformers 5 silently encodes the wrong form.
    """
    try:
        split = tokenizer([["a", "b"]], is_split_into_words=True, add_special_tokens=False)["input_ids"][0]
    except ValueError:
        return False
    return bool(split == tokenizer("a b", add_special_tokens=False)["input_ids"])


def load_tokenizer(path: str, trust_remote_code: bool = False) -> Any:
    """The encoder's fast tokenizer, set up to take pre-split words (byte-level BPE needs a prefix space)."""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except OSError as error:  # transformers' way of saying: no such folder or hub id, or no tokenizer in it
        raise UserError(f"{path}: cannot load a tokenizer: {error}") from error
    if not _splits_like_running_text(tokenizer):
        tokenizer = AutoTokenizer.from_pretrained(path, add_prefix_space=True, trust_remote_code=trust_remote_code)
    if not tokenizer.is_fast:
        raise UserError(f"{path}: bertner needs a fast tokenizer (one with word_ids); this one is not")
    return tokenizer
