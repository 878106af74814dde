"""A corpus: train, valid and test sentences from a folder of CoNLL files or annotation exports, one such file
split by document (`DataConfig.split`), or a HF `datasets` dataset."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bertner.config import DataConfig
from bertner.data.annotations.read import ANNOTATION_SUFFIXES, ReadOptions, read_sentences
from bertner.data.annotations.report import AnnotationsReport, FileReport
from bertner.data.annotations.split import split_documents
from bertner.data.annotations.words import WordPolicy
from bertner.data.conll import ConllFormatError, Sentence, check_known_tags, read_conll
from bertner.labels import LabelSet, Scheme, detect_scheme, first_illegal, to_iob2

SPLIT_FILES = {
    "train": ("train.txt", "train.conll", "eng.train", "train.tsv", "train.json", "train.jsonl"),
    "valid": (
        *("valid.txt", "dev.txt", "validation.txt", "valid.conll", "dev.conll", "eng.testa", "dev.tsv"),
        *("valid.json", "valid.jsonl", "dev.json", "dev.jsonl", "validation.json", "validation.jsonl"),
    ),
    "test": ("test.txt", "test.conll", "eng.testb", "test.tsv", "test.json", "test.jsonl"),
}
HF_SPLITS = {"train": ("train",), "valid": ("validation", "valid", "dev"), "test": ("test",)}
HF_PREFIX = "hf:"

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Corpus:
    """Sentences per split, the label set learned from the training split, and what reading annotation exports
    (or splitting one file) did, to be written beside the run (None for CoNLL folders and datasets)."""

    train: tuple[Sentence, ...]
    valid: tuple[Sentence, ...]
    test: tuple[Sentence, ...]
    label_set: LabelSet
    annotations: AnnotationsReport | None = None


def find_split(directory: Path, split: str) -> Path:
    for name in SPLIT_FILES[split]:
        if (directory / name).is_file():
            return directory / name
    raise ConllFormatError(f"{directory}: no {split} split: expected one of {', '.join(SPLIT_FILES[split])}")


def is_annotation_file(path: Path, config: DataConfig) -> bool:
    """Whether `path` is read as an annotation export: as `config.format` says, or for `auto` by its suffix."""
    if config.format == "auto":
        return path.suffix.lower() in ANNOTATION_SUFFIXES
    return config.format != "conll"


def read_file(path: Path, config: DataConfig) -> tuple[list[Sentence], FileReport | None]:
    """A CoNLL file's sentences, or an annotation export's with the report of its conversion."""
    if not is_annotation_file(path, config):
        return read_conll(path, config.tag_column, config.scheme), None
    options = ReadOptions(config.format if config.format != "conll" else "auto", config.annotation, config.offsets)
    return read_sentences(path, options, WordPolicy(config.words, config.misaligned, config.overlaps))


def annotation_settings(config: DataConfig) -> dict[str, object]:
    """The settings an annotation export is read with, as recorded in its report."""
    names = ("format", "annotation", "offsets", "words", "misaligned", "overlaps")
    return {name: getattr(config, name) for name in names}


def read_split(source: Path, split: str, config: DataConfig) -> list[Sentence]:
    """Read one split from a folder (by its usual file names) or from a file."""
    path = find_split(source, split) if source.is_dir() else source
    return read_file(path, config)[0]


def load_corpus(source: str, config: DataConfig) -> Corpus:
    """Load train/valid/test from a folder of CoNLL files or annotation exports, from one such file with
    `config.split`, or, with `hf:owner/name`, from the HF hub."""
    if source.startswith(HF_PREFIX):
        if config.split:
            raise ConllFormatError(f"{source}: --split divides one file; a dataset comes with its own splits")
        import datasets  # heavy: imported only for this path

        try:
            dataset_dict = datasets.load_dataset(source[len(HF_PREFIX) :])
        except OSError as error:  # not on the hub or in the cache (DatasetNotFoundError), no network, ...
            raise ConllFormatError(f"{source}: cannot load the dataset: {error}") from error
        return corpus_from_hf(dataset_dict, config, source)
    if config.split:
        return _split_file(Path(source), config)
    directory = Path(source)
    if directory.is_file():
        raise ConllFormatError(
            f"{directory}: one file: say how to split it, e.g. --split 0.8,0.1,0.1 (train, valid, test)"
        )
    if not directory.is_dir():
        raise ConllFormatError(f"{directory}: not a folder with train/valid/test CoNLL files or annotation exports")
    read = {split: read_file(find_split(directory, split), config) for split in SPLIT_FILES}
    corpus = _build({split: sentences for split, (sentences, _) in read.items()}, config)
    reports = tuple(report for _, report in read.values() if report is not None)
    if not reports:
        return corpus
    return replace(corpus, annotations=AnnotationsReport(reports, annotation_settings(config)))


def _split_file(path: Path, config: DataConfig) -> Corpus:
    """One file (CoNLL or an export) dealt out into train, valid and test by document, as `config.split` says."""
    if not path.is_file():
        what = "a folder with its own train, valid and test files" if path.is_dir() else "not a file"
        raise ConllFormatError(f"{path}: --split divides one file, and this is {what}")
    sentences, report = read_file(path, config)
    splits, record = split_documents(sentences, config.split, config.split_seed, str(path))
    logger.info(
        "%s split by %s at %s (seed %d): %s",
        path,
        record.unit,
        ",".join(f"{r:g}" for r in config.split),
        config.split_seed,
        ", ".join(f"{name} {len(lines)}" for name, lines in record.lines.items()),
    )
    files = (report,) if report is not None else ()
    return replace(_build(splits, config), annotations=AnnotationsReport(files, annotation_settings(config), record))


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
