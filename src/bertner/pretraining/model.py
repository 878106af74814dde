"""The encoder with a masked-LM head to pretrain, and the encoder alone saved as an HF model folder.

Sentence-embedding checkpoints (both named encoders, all-MiniLM-L6-v2 and all-mpnet-base-v2) hold the encoder
and a pooler but no MLM head. transformers 5 then loads the encoder, initialises the head's missing weights
(`_init_weights`: normal with the config's initializer_range, biases 0; the output projection is tied to the word
embeddings, so only the transform and biases are new), and prints a load report that calls the checkpoint
"corrupted". bertner reads the same facts from `output_loading_info` and logs one line instead.

An MLM model (BertForMaskedLM, MPNetForMaskedLM, ...) holds its encoder without a pooler, so the saved encoder
has none: token classification does not use it, but an `AutoModel` (with a pooler) loaded from the folder gets a
fresh one.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transformers
from transformers import AutoModelForMaskedLM

from bertner.errors import UserError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MaskedLM:
    """An MLM model on the encoder, and the names of the head weights it had to make (empty: the checkpoint's)."""

    model: Any
    fresh_head: tuple[str, ...]


@contextlib.contextmanager
def _transformers_errors_only() -> Iterator[None]:
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(previous)


def load_masked_lm(path: str, trust_remote_code: bool = False) -> MaskedLM:
    """The encoder at `path` with its MLM head, or a fresh head where the checkpoint has none.

    Raises:
        UserError: the checkpoint lacks weights of the encoder itself (not an encoder of the architecture its
            config names), or the architecture has no masked-LM model in transformers.
    """
    try:
        with _transformers_errors_only():
            # Weights only from safetensors: a pickled pytorch_model.bin can run code when it is unpickled.
            model, info = AutoModelForMaskedLM.from_pretrained(
                path, use_safetensors=True, trust_remote_code=trust_remote_code, output_loading_info=True
            )
    except (ValueError, OSError) as error:
        raise UserError(f"{path}: cannot load a masked-LM model on this encoder: {error}") from error
    prefix = f"{model.base_model_prefix}."
    missing = sorted(info["missing_keys"])
    encoder_missing = [name for name in missing if name.startswith(prefix)]
    if encoder_missing:
        raise UserError(
            f"{path}: the checkpoint lacks {len(encoder_missing)} weights of the encoder itself "
            f"(first: {encoder_missing[0]}); it is not a {type(model.base_model).__name__} checkpoint"
        )
    if missing:
        logger.info(
            "%s has no masked-LM head: a fresh one is made (%d weights newly initialised: %s)",
            path,
            len(missing),
            ", ".join(missing),
        )
    unused = sorted(info["unexpected_keys"])
    if unused:
        logger.info("not used by the masked-LM model and not in the saved encoder: %s", ", ".join(unused))
    return MaskedLM(model, tuple(missing))


def save_encoder(model: Any, tokenizer: Any, folder: Path) -> None:
    """The MLM model's encoder (without the head) and the tokenizer, in the HF layout: config.json,
    model.safetensors and the tokenizer's files, which `AutoModel*.from_pretrained(folder)` and
    `bertner train --encoder folder` read."""
    model.base_model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
