"""A corpus: train, valid and test sentences from a CoNLL folder or a HF `datasets` dataset."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertner.config import DataConfig
from bertner.data.conll import ConllFormatError, Sentence, check_known_tags, read_conll
from bertner.labels import LabelSet, Scheme, detect_scheme, first_illegal, to_iob2

SPLIT_FILES = {
    "train": ("train.txt", "train.conll", "eng.train", "train.tsv"),
    "valid": ("valid.txt", "dev.txt", "validation.txt", "valid.conll", "dev.conll", "eng.testa", "dev.tsv"),
    "test": ("test.txt", "test.conll", "eng.testb", "test.tsv"),
}
HF_SPLITS = {"train": ("train",), "valid": ("validation", "valid", "dev"), "test": ("test",)}
HF_PREFIX = "hf:"


@dataclass(frozen=True)
class Corpus:
    """Sentences per split, and the label set learned from the training split."""

    train: tuple[Sentence, ...]
    valid: tuple[Sentence, ...]
    test: tuple[Sentence, ...]
    label_set: LabelSet


def find_split(directory: Path, split: str) -> Path:
    for name in SPLIT_FILES[split]:
        if (directory / name).is_file():
            return directory / name
    raise ConllFormatError(f"{directory}: no {split} split: expected one of {', '.join(SPLIT_FILES[split])}")


def read_split(source: Path, split: str, config: DataConfig) -> list[Sentence]:
    """Read one split from a folder (by its usual file names) or from a file."""
    path = find_split(source, split) if source.is_dir() else source
    return read_conll(path, config.tag_column, config.scheme)


def load_corpus(source: str, config: DataConfig) -> Corpus:
    """Load train/valid/test from a CoNLL folder or, with `hf:owner/name`, from the HF hub."""
    if source.startswith(HF_PREFIX):
        import datasets  # heavy: imported only for this path

        try:
            dataset_dict = datasets.load_dataset(source[len(HF_PREFIX) :])
        except OSError as error:  # not on the hub or in the cache (DatasetNotFoundError), no network, ...
            raise ConllFormatError(f"{source}: cannot load the dataset: {error}") from error
        return corpus_from_hf(dataset_dict, config, source)
    directory = Path(source)
    if not directory.is_dir():
        raise ConllFormatError(f"{directory}: not a folder with train/valid/test CoNLL files")
    splits = {split: read_split(directory, split, config) for split in SPLIT_FILES}
    return _build(splits, config)


def _build(splits: Mapping[str, list[Sentence]], config: DataConfig) -> Corpus:
    train = splits["train"][: config.limit_train]
    label_set = LabelSet.from_tags(tag for s in splits["train"] for tag in s.tags)
    valid = splits["valid"][: config.limit_eval]
    test = splits["test"][: config.limit_eval]
    for sentences in (splits["valid"], splits["test"]):
        check_known_tags(sentences, label_set.labels)
    return Corpus(tuple(train), tuple(valid), tuple(test), label_set)


def _tag_names(dataset: Any, column: str) -> Sequence[str] | None:
    feature = dataset.features[column]
    inner = getattr(feature, "feature", None)
    return getattr(inner, "names", None)


def sentences_from_hf(dataset: Any, where: str, scheme: str = "auto") -> list[Sentence]:
    """Sentences from a HF dataset split with `tokens` and `ner_tags` (ClassLabel ids or strings)."""
    for column in ("tokens", "ner_tags"):
        if column not in dataset.column_names:
            raise ConllFormatError(f"{where}: missing column {column!r} (found {dataset.column_names})")
    names = _tag_names(dataset, "ner_tags")
    rows = [(list(row["tokens"]), [names[t] if names is not None else t for t in row["ner_tags"]]) for row in dataset]
    try:
        resolved = detect_scheme(tags for _, tags in rows) if scheme == "auto" else Scheme(scheme)
    except ValueError as error:  # a tag name that is not one (split_tag)
        raise ConllFormatError(f"{where}: {error}") from error
    sentences = []
    for index, (words, tags) in enumerate(rows):
        place = f"{where}[{index}]"
        if len(words) != len(tags):
            raise ConllFormatError(f"{place}: {len(words)} tokens but {len(tags)} tags")
        if any(not word for word in words):
            raise ConllFormatError(f"{place}: empty word")
        try:
            bad = first_illegal(tags, resolved)
        except ValueError as error:  # a tag name that is not one (split_tag)
            raise ConllFormatError(f"{place}: {error}") from error
        if bad is not None:
            raise ConllFormatError(f"{place}: illegal {resolved.value} sequence at word {bad}: {tags[bad]!r}")
        if words:
            sentences.append(Sentence(tuple(words), tuple(to_iob2(tags, resolved)), source=place, line=0))
    if not sentences:
        raise ConllFormatError(f"{where}: empty split: no sentences")
    return sentences


def corpus_from_hf(dataset_dict: Mapping[str, Any], config: DataConfig, where: str = "hf") -> Corpus:
    splits: dict[str, list[Sentence]] = {}
    for split, candidates in HF_SPLITS.items():
        name = next((c for c in candidates if c in dataset_dict), None)
        if name is None:
            raise ConllFormatError(f"{where}: no {split} split: expected one of {', '.join(candidates)}")
        splits[split] = sentences_from_hf(dataset_dict[name], f"{where}:{name}", config.scheme)
    return _build(splits, config)
