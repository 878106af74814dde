"""An encoder's tokenizer read from its `tokenizer.json` with the `tokenizers` library alone: what an ONNX export
is tagged with, so that it needs neither transformers nor torch.

`FileTokenizer` gives data/encoding.py what it uses of an HF fast tokenizer, and nothing more:

- `tokenizer(sentences, is_split_into_words=True, add_special_tokens=...)`, whose result has `["input_ids"]`
  (one list per sentence) and `.word_ids(i)`;
- `unk_token_id` (a word the tokenizer drops entirely), `pad_token_id` (padding) and `model_max_length`.

HF's fast tokenizer does exactly this with the same file: it turns truncation and padding off, leaves special
tokens in the text unsplit (`encode_special_tokens` False), and calls the backend's `encode_batch` with
`is_pretokenized` (transformers' `tokenization_utils_tokenizers.py`). The ids of the special tokens and the
length limit come from `tokenizer_config.json` (`special_tokens_map.json` for older folders), as HF reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tokenizers import Encoding, Tokenizer

from bertner.errors import UserError
from bertner.files import read_json

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"
NO_LIMIT = int(1e30)
"""HF's `model_max_length` when a folder records none (VERY_LARGE_INTEGER): data/encoding.py reads it as 512."""


@dataclass(frozen=True)
class WordEncodings:
    """The encodings of a batch of sentences, read as HF's `BatchEncoding` is read by data/encoding.py."""

    encodings: tuple[Encoding, ...]
    input_ids: list[list[int]]
    """Each sentence's ids, read once: data/encoding.py indexes `["input_ids"]` once per sentence."""

    @classmethod
    def of(cls, encodings: Sequence[Encoding]) -> WordEncodings:
        return cls(tuple(encodings), [encoding.ids for encoding in encodings])

    def __getitem__(self, key: str) -> list[list[int]]:
        if key != "input_ids":
            raise KeyError(f"{key!r}: a FileTokenizer gives input_ids and word_ids only")
        return self.input_ids

    def word_ids(self, index: int) -> list[int | None]:
        """The word of each sub-token of sentence `index` (None for special tokens)."""
        return self.encodings[index].word_ids


@dataclass(frozen=True, eq=False)
class FileTokenizer:
    """A `tokenizers.Tokenizer` and the special-token ids and length limit its folder records.

    Built by `load_file_tokenizer`; identity-hashed and weak-referenceable, as data/encoding.py caches per
    tokenizer.
    """

    backend: Tokenizer
    pad_token_id: int | None
    unk_token_id: int | None
    model_max_length: int
    name_or_path: str = ""

    def __call__(
        self, text: Sequence[Sequence[str]], is_split_into_words: bool = False, add_special_tokens: bool = True
    ) -> WordEncodings:
        """Encode a batch of pre-split sentences (each a list of words); raw strings are not what bertner sends."""
        if not is_split_into_words:
            raise ValueError("a FileTokenizer encodes pre-split words only (is_split_into_words=True)")
        batch = [list(words) for words in text]
        encodings = self.backend.encode_batch(batch, is_pretokenized=True, add_special_tokens=add_special_tokens)
        return WordEncodings.of(encodings)

    def __len__(self) -> int:
        return int(self.backend.get_vocab_size(with_added_tokens=True))


def _token_text(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string, or an AddedToken's {"content": ...}."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def _read_object(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    value = read_json(path, "the tokenizer's settings")
    if not isinstance(value, dict):
        raise UserError(f"{path}: the tokenizer's settings must be a JSON object")
    return value


def load_file_tokenizer(folder: str | Path) -> FileTokenizer:
    """The tokenizer saved in `folder` (`tokenizer.json`, with `tokenizer_config.json` beside it).

    Raises UserError naming the file when it is missing or damaged, or when a special token it names is not in
    the vocabulary.
    """
    folder = Path(folder)
    path = folder / TOKENIZER_FILE
    if not path.is_file():
        raise UserError(f"{path}: no such file; an export holds its tokenizer as {TOKENIZER_FILE}")
    try:
        backend = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises bare Exceptions for a damaged tokenizer.json
        raise UserError(f"{path}: cannot load the tokenizer: {error}") from error
    backend.no_truncation()
    backend.no_padding()
    backend.encode_special_tokens = False
    settings = _read_object(folder / SPECIAL_TOKENS_MAP) | _read_object(folder / TOKENIZER_CONFIG)

    def token_id(name: str) -> int | None:
        text = _token_text(settings.get(name))
        if text is None:
            return None
        found = backend.token_to_id(text)
        if found is None:
            raise UserError(f"{folder / TOKENIZER_CONFIG}: {name} {text!r} is not in the tokenizer's vocabulary")
        return int(found)

    limit = settings.get("model_max_length", NO_LIMIT)
    if isinstance(limit, float) and limit.is_integer():
        limit = int(limit)
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise UserError(f"{folder / TOKENIZER_CONFIG}: model_max_length must be an integer, got {limit!r}")
    tokenizer = FileTokenizer(backend, token_id("pad_token"), token_id("unk_token"), limit, str(folder))
    _check_word_splitting(tokenizer, folder)
    return tokenizer


def _check_word_splitting(tokenizer: FileTokenizer, folder: Path) -> None:
    """Refuse a tokenizer that encodes pre-split words other than running text (a byte-level BPE without a
    prefix space): model/tokenizer.py sets such a tokenizer up before it is trained with and saved, so an export
    never holds one, but a hand-made folder might."""
    split = tokenizer([["a", "b"]], is_split_into_words=True, add_special_tokens=False)["input_ids"][0]
    running = tokenizer.backend.encode("a b", add_special_tokens=False).ids
    if split != running:
        raise UserError(
            f"{folder / TOKENIZER_FILE}: encodes pre-split words differently from running text (a byte-level BPE "
            "without add_prefix_space?); save the tokenizer with bertner's model/tokenizer.py setup"
        )
