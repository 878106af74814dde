"""Fuzzers of every input path (issue 12): the CoNLL reader, raw-text prediction and the config loader.

Each fuzzer is a hypothesis strategy and a check. The only outcomes a check allows are a result that meets
the path's contract, or a typed bertner error whose message starts with its location (`path:` or
`path:line:`); any other exception is a failure, and hypothesis's deadline catches a hang.
tests/reliability/test_fuzz.py runs a few hundred examples of each in CI; bench/fuzz.py runs 10,000.

The oracles:
- CoNLL, random bytes: sentences whose tags are legal IOB2, or ConllFormatError `path:...`.
- CoNLL, generated files: entities drawn as spans are written in IOB1, IOB2 or BIOES (encoded here,
  independently of bertner.labels), with random separators, extra columns, line endings, a BOM and
  -DOCSTART- lines; reading them back must give the same words and the spans' IOB2 tags.
- raw text runs on the plain model and on the default one (a CRF and word-shape features).
- raw text: one list per text; every entity is a non-empty, in-bounds, non-overlapping span in order,
  `text[start:end] == entity.text`, with no (Unicode) white space at its ends, a known type, a score in [0, 1].
- config: a Config with valid settings, or ValueError `path: ...` / `path [section]: ...`.
"""

from __future__ import annotations

import math
import string
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import strategies as st

from bertner.config import Config
from bertner.config_files import load_config
from bertner.data.conll import ConllFormatError, read_conll
from bertner.labels import Scheme, first_illegal


@dataclass(frozen=True)
class Fuzzer:
    """A strategy of inputs and the check of one input; `check(value, context)` returns the outcome's name."""

    name: str
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any, Any], str]
    outcomes: tuple[str, ...]
    """Every outcome `check` returns: tests/reliability/test_fuzz.py finds an input for each, so that a fuzzer
    whose inputs all take one path (all refused, say) fails instead of testing less than it claims."""


def _scratch(data: bytes, suffix: str) -> Path:
    with tempfile.NamedTemporaryFile(prefix="bertner-fuzz-", suffix=suffix, delete=False) as handle:
        handle.write(data)
    return Path(handle.name)


# --- CoNLL: random bytes and damaged column files ---

_WORD_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters=" \t\r\n")
_TAGS = st.sampled_from(["O", "B-PER", "I-PER", "E-LOC", "S-ORG", "B-", "X-PER", "I-MISC", "o", "B-PER-X"])
_LINE_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def _damaged_column_file(draw: st.DrawFn) -> bytes:
    lines = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "docstart", "huge", "junk"]))
        if kind == "row":
            columns = [draw(st.text(_WORD_CHARS, min_size=0, max_size=8)) for _ in range(draw(st.integers(0, 3)))]
            lines.append(draw(st.sampled_from([" ", "\t", "  "])).join([*columns, draw(_TAGS)]))
        elif kind == "blank":
            lines.append(draw(st.sampled_from(["", " ", "\t", "\x0b", "\u2028"])))
        elif kind == "docstart":
            lines.append("-DOCSTART- -X- O O")
        elif kind == "huge":
            lines.append("w" * draw(st.integers(10_000, 200_000)) + " O")
        else:
            lines.append(draw(st.text(max_size=20)))
    text = "".join(line + draw(_LINE_ENDS) for line in lines)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    if draw(st.booleans()) and data:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\x00", b"\xff", b"\xc3", b"\x00\x00"])) + data[at:]
    return data


def check_conll_bytes(data: bytes, context: Any = None) -> str:
    path = _scratch(data, ".conll")
    try:
        sentences = read_conll(path)
    except ConllFormatError as error:
        assert str(error).startswith(f"{path}:"), f"no location: {error}"
        return "error"
    finally:
        path.unlink()
    assert sentences
    for sentence in sentences:
        assert sentence.words and all(sentence.words), sentence
        assert first_illegal(sentence.tags, Scheme.IOB2) is None, sentence.tags
        assert sentence.source == str(path) and sentence.line >= 1
    return "sentences"


# --- CoNLL: generated files with known entities ---

_TYPES = ("PER", "LOC", "ORG", "MISC")


def _encode(length: int, spans: Sequence[tuple[int, int, str]], scheme: Scheme) -> list[str]:
    """Tags of `length` words with the given entities (sorted, disjoint [start, end) spans), in `scheme`."""
    tags = ["O"] * length
    previous: tuple[int, str] | None = None  # (end, type) of the entity before
    for start, end, kind in spans:
        if scheme is Scheme.BIOES and end - start == 1:
            tags[start] = f"S-{kind}"
            continue
        for index in range(start, end):
            tags[index] = f"I-{kind}"
        # IOB1 opens an entity with B- only where it directly follows one of its type.
        if scheme is not Scheme.IOB1 or previous == (start, kind):
            tags[start] = f"B-{kind}"
        if scheme is Scheme.BIOES:
            tags[end - 1] = f"E-{kind}"
        previous = (end, kind)
    return tags


@st.composite
def _sentence(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, int, str]]]:
    words = draw(st.lists(st.text(_WORD_CHARS, min_size=1, max_size=6), min_size=1, max_size=10))
    words = [word if word != "-DOCSTART-" else "x" for word in words]
    cuts = sorted(draw(st.lists(st.integers(0, len(words)), max_size=6)))
    spans = [
        (start, end, draw(st.sampled_from(_TYPES)))
        for start, end in zip(cuts[::2], cuts[1::2], strict=False)
        if end > start
    ]
    return words, spans


@dataclass(frozen=True)
class ColumnFile:
    data: bytes
    scheme: Scheme
    sentences: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]  # words and their IOB2 tags


@st.composite
def _column_file(draw: st.DrawFn) -> ColumnFile:
    scheme = draw(st.sampled_from(list(Scheme)))
    drawn = draw(st.lists(_sentence(), min_size=1, max_size=5))
    extra = draw(st.integers(0, 2))
    end = draw(_LINE_ENDS) if draw(st.booleans()) else None  # None: every line ends its own way
    lines: list[str] = []
    if draw(st.booleans()):
        lines += ["-DOCSTART- -X- O O", ""]
    for words, spans in drawn:
        for word, tag in zip(words, _encode(len(words), spans, scheme), strict=True):
            middle = [draw(st.sampled_from(["NNP", "-X-", "I-NP", "x"])) for _ in range(extra)]
            lines.append(draw(st.sampled_from([" ", "\t", " \t "])).join([word, *middle, tag]))
        lines.append(draw(st.sampled_from(["", " ", "\t"])))
    text = ""
    for line in lines:
        ending = end or draw(_LINE_ENDS)
        if text.endswith("\r") and not line and ending == "\n":
            ending = "\r"  # "\r" + "" + "\n" is one CRLF line break, not two: that file has other sentences
        text += line + ending
    data = (b"\xef\xbb\xbf" if draw(st.booleans()) else b"") + text.encode("utf-8")
    expected = tuple((tuple(words), tuple(_encode(len(words), spans, Scheme.IOB2))) for words, spans in drawn)
    return ColumnFile(data, scheme, expected)


def check_column_file(file: ColumnFile, context: Any = None) -> str:
    """Outcomes: the scheme the entities were written in, or "no entities" (all O: any scheme reads it)."""
    path = _scratch(file.data, ".conll")
    try:
        for scheme in ("auto", file.scheme.value):
            read = read_conll(path, scheme=scheme)
            assert tuple((s.words, s.tags) for s in read) == file.sentences, scheme
    finally:
        path.unlink()
    return file.scheme.value if any(tag != "O" for _, tags in file.sentences for tag in tags) else "no entities"


# --- Raw-text prediction ---

_ANY_CHAR = st.characters(codec="utf-8", exclude_categories=("Cs",))
_SCRIPTS = st.sampled_from(
    [
        "Angela Merkel visited Paris .",
        "مرحبا بالعالم",  # Arabic, right to left
        "שלום עולם",  # Hebrew
        "Zu\u0308rich",  # a combining diaeresis
        "\u202eevil\u202c",  # right-to-left override
        "e\u0301\u0301\u0301",
        "नमस्ते दुनिया",
        "\x00\x01\x1b[31m\x7f",
        "\t \u00a0\u2028\u2029\x0b\x0c\x1c\x85",
        "U.S. 3.5 1996-08-22 New-York's",
        "",
    ]
)
_TEXT = st.one_of(
    st.text(_ANY_CHAR, max_size=200),
    st.lists(st.one_of(_SCRIPTS, st.text(_ANY_CHAR, max_size=10)), max_size=12).map(" ".join),
    st.text(st.sampled_from(" \t\u3000\u00a0\n\r"), max_size=30),
)
TEXTS = st.lists(_TEXT, min_size=0, max_size=6)


# Unicode's White_Space property (what the segmenter splits on). Python's str.isspace also counts \x1c-\x1f,
# which Unicode does not: a lone \x1f is a word, as any other symbol is.
_WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(code) for code in range(0x2000, 0x200B)
)


def check_prediction(texts: list[str], predictor: Any) -> str:
    found = predictor.predict(texts)
    assert len(found) == len(texts)
    types = set(predictor.model.types)
    for text, entities in zip(texts, found, strict=True):
        end = 0
        for entity in entities:
            assert end <= entity.start < entity.end <= len(text), (entity, len(text))
            assert text[entity.start : entity.end] == entity.text
            assert entity.text[0] not in _WHITE_SPACE and entity.text[-1] not in _WHITE_SPACE, entity
            assert entity.type in types and 0.0 <= entity.score <= 1.0, entity
            end = entity.end
    return "entities" if any(found) else "no entities"


# --- The config loader ---

_KEYS = {
    "data": ["tag_column", "scheme", "alignment", "max_length", "window_overlap", "limit_train", "limit_eval"],
    "model": ["encoder", "case_features", "head", "head_hidden", "crf", "freeze_layers", "lora", "lora_targets"],
    "train": ["epochs", "lr", "batch_size", "weight_decay", "warmup_ratio", "seed", "patience", "crf_lr", "bf16"],
}
_VALUES = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-3, 600),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(["first", "all", "IOB1", "BIOES", "auto", "linear", "mlp", "corpus", "batch"]),
    st.lists(st.one_of(st.text(max_size=5), st.integers()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.datetimes(),
)


@st.composite
def _toml_document(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))
    document: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from([*_KEYS, "optimiser", "Data"]), max_size=4, unique=True)):
        names = _KEYS.get(section, ["x"])
        keys = draw(st.lists(st.one_of(st.sampled_from(names), st.text(string.ascii_lowercase, max_size=6))))
        document[section] = {key: draw(_VALUES) for key in keys}
    if draw(st.integers(0, 9)) == 0:
        document["data"] = draw(_VALUES)  # a section that is not a table
    text = tomli_w.dumps(document)
    if draw(st.integers(0, 9)) == 0:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut]  # a file cut short
    return text.encode("utf-8")


def check_config(data: bytes, context: Any = None) -> str:
    path = _scratch(data, ".toml")
    try:
        config = load_config(path)
    except ValueError as error:
        assert str(error).startswith((f"{path}: ", f"{path} [")), f"no location: {error}"
        return "error"
    finally:
        path.unlink()
    assert isinstance(config, Config)
    assert config.train.batch_size >= 1 and config.train.epochs >= 1
    assert config.train.lr > 0 and not math.isnan(config.train.lr)
    return "config"


FUZZERS = (
    Fuzzer(
        name="conll-bytes",
        strategy=st.one_of(st.binary(max_size=3000), _damaged_column_file()),
        check=check_conll_bytes,
        outcomes=("error", "sentences"),
    ),
    Fuzzer(
        name="conll-schemes",
        strategy=_column_file(),
        check=check_column_file,
        outcomes=(*(scheme.value for scheme in Scheme), "no entities"),
    ),
    Fuzzer(name="raw-text-prediction", strategy=TEXTS, check=check_prediction, outcomes=("entities", "no entities")),
    Fuzzer(name="config", strategy=_toml_document(), check=check_config, outcomes=("config", "error")),
)
