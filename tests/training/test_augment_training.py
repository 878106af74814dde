"""Augmentation in training (training/augmentation.py): the per-epoch dataset, and tiny runs with it on.

Oracles: a copy's windows are what `encode` makes of the augmented version of the training set it belongs
to; a resumed run must end with the weights of the run that was never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import safetensors.torch
from transformers import AutoTokenizer

from bertner.config import Config, DataConfig
from bertner.config_files import load_config
from bertner.data.augment import AugmentSettings, ReplacementPool, augment_epoch
from bertner.data.conll import Sentence, read_conll
from bertner.data.corpus import load_corpus
from bertner.data.encoding import EncodingPlan, Window, encode
from bertner.labels import LabelSet
from bertner.layout import CHECKPOINTS_DIR
from bertner.training.augmentation import AugmentedWindowDataset
from bertner.training.trainer import encode_sentences, train_model

BATCH_SIZE = 4
METHODS = ("mention", "token")


def _plan(tiny_bert: Path, label_set: LabelSet, **data: Any) -> EncodingPlan:
    return EncodingPlan.for_config(DataConfig(**data), AutoTokenizer.from_pretrained(tiny_bert), label_set)


def _dataset(
    sentences: list[Sentence], plan: EncodingPlan, label_set: LabelSet, ratio: float = 1.0
) -> AugmentedWindowDataset:
    windows = encode_sentences(plan, sentences, label_set)
    return AugmentedWindowDataset(sentences, windows, plan, label_set, AugmentSettings(METHODS, ratio, 0.3, 3))


def _reference(dataset: AugmentedWindowDataset, epoch: int) -> list[Window]:
    """The copies' windows as `encode` makes them from each round's augmented version of the training set."""
    sentences = dataset.sentences
    expected: list[Window] = []
    label2id = dataset.label2id
    for round_ in augment_epoch(
        sentences, ReplacementPool.from_sentences(sentences), dataset.settings, epoch, dataset.candidates
    ):
        version = round_.version_of(sentences)
        windows = encode(
            dataset.plan,
            [s.words for s in version],
            [[label2id[t] for t in s.tags] for s in version],
            [s.document for s in version],
        )
        expected += [w for copy in round_.copies for w in windows if w.sentence == copy.origin]
    return expected


@pytest.fixture(scope="module")
def tiny_train(tiny_data: Path) -> list[Sentence]:
    return read_conll(tiny_data / "train.conll")


@pytest.mark.parametrize("context", [0, 6])
def test_each_epoch_has_its_own_copies_after_the_training_windows_and_the_same_length(
    tiny_bert: Path, tiny_train: list[Sentence], context: int
) -> None:
    label_set = LabelSet.from_tags(t for s in tiny_train for t in s.tags)
    plan = _plan(tiny_bert, label_set, context=context)
    dataset = _dataset(tiny_train, plan, label_set, ratio=1.5)
    original = encode_sentences(plan, tiny_train, label_set)
    assert len(dataset) == len(original) + math.floor(1.5 * len(dataset.candidates) + 0.5)

    epochs: dict[int, list[Window]] = {}
    for epoch in (0, 1, 0):
        dataset.use_epoch(epoch)
        assert len(dataset) == len(dataset.windows)
        assert dataset.windows[: len(original)] == original
        assert [dataset[i] for i in range(len(dataset))] == [w.features() for w in dataset.windows]
        copies = dataset.windows[len(original) :]
        assert copies == _reference(dataset, epoch)
        assert copies == epochs.setdefault(epoch, copies)  # epoch 0 again: the same copies
    assert epochs[0] != epochs[1]


def test_a_copy_encoded_with_context_reads_it_from_around_its_original(
    tiny_bert: Path, tiny_train: list[Sentence]
) -> None:
    label_set = LabelSet.from_tags(t for s in tiny_train for t in s.tags)
    with_context = _dataset(tiny_train, _plan(tiny_bert, label_set, context=6), label_set)
    alone = _dataset(tiny_train, _plan(tiny_bert, label_set), label_set)
    with_context.use_epoch(0)
    alone.use_epoch(0)
    start = len(with_context.original)
    for copy, (bare, framed) in zip(
        [
            c
            for r in augment_epoch(tiny_train, with_context.pool, with_context.settings, 0, with_context.candidates)
            for c in r.copies
        ],
        zip(alone.windows[start:], with_context.windows[start:], strict=True),
        strict=True,
    ):
        neighbours = [
            s for s in tiny_train if s.document == tiny_train[copy.origin].document and s != tiny_train[copy.origin]
        ]
        assert (len(framed.input_ids) > len(bare.input_ids)) == bool(neighbours)
        assert framed.labels is not None and bare.labels is not None
        assert [label for label in framed.labels if label >= 0] == [label for label in bare.labels if label >= 0]


def test_a_copy_that_needs_two_windows_gives_way_to_its_original(tiny_bert: Path) -> None:
    # The only other PER mention is 20 words long: every copy of the short sentence outgrows a 16-token window.
    short = Sentence(("Maria", "flew", "."), ("B-PER", "O", "O"))
    long_name = Sentence(("Tomas",) * 20, ("B-PER",) + ("I-PER",) * 19)
    label_set = LabelSet.from_types(["PER"])
    plan = _plan(tiny_bert, label_set, max_length=16, window_overlap=4)
    windows = encode_sentences(plan, [short, long_name], label_set)
    dataset = AugmentedWindowDataset(
        [short, long_name], windows, plan, label_set, AugmentSettings(("mention",), 1.0, 1.0, 0)
    )
    assert dataset.candidates == [0]  # the long sentence takes several windows, so it is not copied
    dataset.use_epoch(0)
    assert dataset.windows == [*windows, windows[0]]


# --- tiny training runs ---


def _config(tiny_bert: Path, epochs: int = 2, **train: Any) -> Config:
    return load_config(
        None,
        {
            "model": {"encoder": str(tiny_bert), "crf": False, "case_features": False},  # weights in model.safetensors
            "train": {"epochs": epochs, "lr": 1e-3, "batch_size": BATCH_SIZE, "augment": list(METHODS), **train},
        },
    )


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def augmented_run(
    tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A 2-epoch run with augmentation, recording each epoch's windows and the items training drew."""
    seen: dict[int, list[Window]] = {}
    drawn: dict[int, list[str]] = {}
    original_use_epoch = AugmentedWindowDataset.use_epoch
    original_getitem = AugmentedWindowDataset.__getitem__

    def recording(self: AugmentedWindowDataset, epoch: int) -> None:
        original_use_epoch(self, epoch)
        seen[epoch] = list(self.windows)

    def drawing(self: AugmentedWindowDataset, index: int) -> dict[str, list[int]]:
        item = original_getitem(self, index)
        drawn.setdefault(self.epoch if self.epoch is not None else -1, []).append(json.dumps(item, sort_keys=True))
        return item

    files_before = _digest(tiny_data)
    config = _config(tiny_bert)
    corpus = load_corpus(str(tiny_data), config.data)
    run_dir = tmp_path_factory.mktemp("augmented") / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(AugmentedWindowDataset, "use_epoch", recording)
        patch.setattr(AugmentedWindowDataset, "__getitem__", drawing)
        result = train_model(config, corpus, run_dir, progress=False)
    yield {
        "seen": seen,
        "drawn": drawn,
        "corpus": corpus,
        "run_dir": run_dir,
        "result": result,
        "files_before": files_before,
    }


def test_an_augmented_run_trains_on_new_copies_each_epoch(augmented_run: dict[str, Any], tiny_data: Path) -> None:
    seen, corpus, run_dir = augmented_run["seen"], augmented_run["corpus"], augmented_run["run_dir"]
    assert augmented_run["result"].epochs_run == 2.0
    assert sorted(seen) == [0, 1]
    copies = {epoch: windows[len(corpus.train) :] for epoch, windows in seen.items()}  # one window a sentence
    assert copies[0] and copies[1] and copies[0] != copies[1]
    # Each epoch, training drew every window of that epoch once: the training windows and that epoch's copies.
    for epoch, windows in seen.items():
        expected = Counter(json.dumps(w.features(), sort_keys=True) for w in windows)
        assert Counter(augmented_run["drawn"][epoch]) == expected
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]
    steps = math.ceil(len(seen[0]) / BATCH_SIZE)
    assert [r["step"] for r in records] == [steps, 2 * steps]
    saved = load_config(run_dir / "bertner.toml").train
    assert (saved.augment, saved.augment_ratio, saved.augment_probability, saved.augment_seed) == (
        METHODS,
        1.0,
        0.3,
        42,
    )
    # The user's data is untouched, in memory and on disk.
    assert corpus == load_corpus(str(tiny_data), DataConfig())
    assert _digest(tiny_data) == augmented_run["files_before"]


def test_a_resumed_augmented_run_ends_as_the_uninterrupted_one(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    config = _config(tiny_bert)
    corpus = load_corpus(str(tiny_data), config.data)
    train_model(config, corpus, tmp_path, progress=False)
    checkpoints = sorted((tmp_path / CHECKPOINTS_DIR).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    last = checkpoints[-1] / "model.safetensors"
    uninterrupted = safetensors.torch.load_file(str(last))
    # As if killed while saving epoch 2: its checkpoint and the final model never reached disk.
    shutil.rmtree(checkpoints[-1])
    (tmp_path / "model.safetensors").unlink()

    train_model(config, corpus, tmp_path, resume=True, progress=False)

    resumed = safetensors.torch.load_file(str(last))
    assert resumed.keys() == uninterrupted.keys()
    for name, tensor in uninterrupted.items():
        assert resumed[name].equal(tensor), name
