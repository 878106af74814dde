"""`bertner distill` end to end on the tiny encoders: the student moves towards the teacher, with another tokenizer;
the cache is reused or recomputed as the fingerprints say; unlabelled text adds soft-only sentences; the student is
an ordinary run that loads, evaluates and records how it was made.

The oracle of "moves towards" is the word-level KL itself, measured before (the student's initial weights, which
train_model draws from the seed) and after training.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bertner.cli import main
from bertner.config import Config, DataConfig, ModelConfig, TrainConfig
from bertner.config_files import load_config, read_saved_config
from bertner.data.alignment import IGNORE
from bertner.data.conll import Sentence
from bertner.data.corpus import Corpus, load_corpus
from bertner.data.encoding import EncodingPlan, encode
from bertner.distill_config import DistillConfig
from bertner.distillation import run as distill_run
from bertner.distillation.cache import CacheOutcome
from bertner.distillation.fingerprint import teacher_fingerprint
from bertner.distillation.loss import word_kl
from bertner.distillation.run import DistillResult, cache_folder, distill
from bertner.distillation.transfer import transfer_set
from bertner.labels import LabelSet
from bertner.model.build import build_tagger
from bertner.model.collate import Collator
from bertner.model.store import load_model
from bertner.model.tagger import Tagger
from bertner.training.soft_targets import SOFT_MASK, SOFT_TARGETS, SoftCollator, SoftTargets, SoftTraining
from bertner.training.trainer import TrainResult
from tiny_models import write_random_run, write_tiny_bert

TEMPERATURE = 2.0


@pytest.fixture(scope="module")
def char_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT whose vocabulary has characters only: a tokenizer unlike the student's (tiny_bert, whole words)."""
    return write_tiny_bert(tmp_path_factory.mktemp("char-bert"), whole_words=False)


@pytest.fixture(scope="module")
def corpus(tiny_data: Path) -> Corpus:
    return load_corpus(str(tiny_data), DataConfig())


@pytest.fixture(scope="module")
def teacher(char_bert: Path, corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CRF teacher on the character tokenizer with spread-out distributions (a small head), so there is
    something to learn from it beyond the gold tags."""
    return write_random_run(
        char_bert, tmp_path_factory.mktemp("teacher") / "run", corpus.label_set, crf=True, head_std=1.0
    )


def _student_config(tiny_bert: Path, **distill: Any) -> Config:
    return Config(
        model=ModelConfig(encoder=str(tiny_bert)),
        train=TrainConfig(epochs=1, batch_size=4, lr=1e-3, warmup_ratio=0.0, bf16=False, seed=3),
        distill=DistillConfig(temperature=TEMPERATURE, **{"transfer_copies": 0.0, **distill}),
    )


def _mean_kl(tagger: Tagger, tokenizer: Any, sentences: Sequence[Sentence], targets: Sequence[np.ndarray]) -> float:
    """The student's mean word-level KL from the teacher's targets on `sentences`, without dropout."""
    plan = EncodingPlan.for_config(DataConfig(), tokenizer, LabelSet.from_types(["LOC", "MISC", "ORG", "PER"]))
    windows = encode(plan, [s.words for s in sentences])
    items = []
    for window in windows:
        item: dict[str, Any] = window.features()
        item["soft_starts"] = item["word_starts"]
        item[SOFT_TARGETS] = targets[window.sentence][window.own_start : window.own_end]
        items.append(item)
    batch = SoftCollator(Collator(tokenizer.pad_token_id))(items)
    tagger.eval()
    with torch.no_grad():
        logits = tagger(batch["input_ids"], batch["attention_mask"], batch["shape_ids"]).logits
        kl = word_kl(tagger.crf, logits, batch[SOFT_TARGETS], batch[SOFT_MASK], TEMPERATURE)
    return float(kl.sum() / batch[SOFT_MASK].sum())


def test_two_steps_move_a_student_with_another_tokenizer_towards_the_teacher(
    tiny_bert: Path, char_bert: Path, corpus: Corpus, teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _student_config(tiny_bert, alpha=0.5)
    words = [list(s.words) for s in corpus.train]
    # the two tokenizers split the words differently, so only word-level targets can be shared
    teacher_ids = encode(EncodingPlan.for_config(config.data, load_model(teacher).tokenizer, corpus.label_set), words)
    torch.manual_seed(config.train.seed)  # what train_model draws the student's initial weights from
    before, tokenizer = build_tagger(config.model, corpus.label_set)
    student_ids = encode(EncodingPlan.for_config(config.data, tokenizer, corpus.label_set), words)
    assert [len(w.input_ids) for w in teacher_ids] != [len(w.input_ids) for w in student_ids]
    captured: list[SoftTargets] = []
    original = distill_run.train_model

    def capture(*args: Any, soft_targets: SoftTargets, **kwargs: Any) -> TrainResult:
        captured.append(soft_targets)
        return original(*args, soft_targets=soft_targets, **kwargs)

    monkeypatch.setattr(distill_run, "train_model", capture)
    result = distill(config, corpus, str(teacher), tmp_path / "student", cache_dir=tmp_path / "cache", progress=False)
    assert result.caches == {"train": CacheOutcome.NEW}
    targets = captured[0].train
    assert [len(t) for t in targets] == [len(s.words) for s in corpus.train]
    # 7 sentences in batches of 4: two optimiser steps
    assert len(corpus.train) == 7 and result.train.epochs_run == 1
    student = load_model(tmp_path / "student")
    kl_before = _mean_kl(before, tokenizer, corpus.train, targets)
    kl_after = _mean_kl(student.tagger, student.tokenizer, corpus.train, targets)
    assert kl_after < kl_before


def _no_training(calls: list[SoftTargets]) -> Any:
    def train(config: Config, corpus: Corpus, run_dir: Path, **kwargs: Any) -> TrainResult:
        calls.append(kwargs["soft_targets"])
        return TrainResult(run_dir, 0.0, 1.0, 0.0, 0, 0)

    return train


def test_distill_reuses_its_cache_without_loading_the_teacher_and_recomputes_when_either_changed(
    tiny_bert: Path, char_bert: Path, corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    teacher = write_random_run(char_bert, tmp_path / "teacher", corpus.label_set, crf=True, head_std=1.0)
    calls: list[SoftTargets] = []
    monkeypatch.setattr(distill_run, "train_model", _no_training(calls))
    config = _student_config(tiny_bert)

    def run(corpus: Corpus) -> DistillResult:
        return distill(config, corpus, str(teacher), tmp_path / "student", cache_dir=tmp_path / "cache")

    assert run(corpus).caches == {"train": CacheOutcome.NEW}
    loader = distill_run.load_tagging_model
    monkeypatch.setattr(distill_run, "load_tagging_model", lambda *a: pytest.fail("the teacher was loaded"))
    reused = run(corpus)
    assert (reused.caches, reused.teacher_seconds) == ({"train": CacheOutcome.REUSED}, 0.0)
    for first, second in zip(calls[0].train, calls[1].train, strict=True):
        np.testing.assert_array_equal(first, second)
    monkeypatch.setattr(distill_run, "load_tagging_model", loader)
    fewer = dataclasses.replace(corpus, train=corpus.train[:5])
    assert run(fewer).caches == {"train": CacheOutcome.DATA_CHANGED}
    write_random_run(char_bert, teacher, corpus.label_set, crf=True, head_std=1.0, seed=9)
    assert run(fewer).caches == {"train": CacheOutcome.TEACHER_CHANGED}
    assert list(cache_folder(tmp_path / "cache", str(teacher.resolve())).iterdir())[0].name == "train.npz"


def _news(folder: Path) -> Path:
    """Two lines of unlabelled text, 6 and 9 words."""
    text = folder / "news.txt"
    text.write_text("Maria Okafor flew to Lisbon .\nThe Harbour Trust hired Tomas Berg in Oslo .\n", encoding="utf-8")
    return text


def test_unlabelled_sentences_are_trained_on_soft_targets_only(
    tiny_bert: Path, corpus: Corpus, teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _news(tmp_path)
    calls: list[SoftTargets] = []
    monkeypatch.setattr(distill_run, "train_model", _no_training(calls))
    config = _student_config(tiny_bert, unlabeled=(str(text),))
    result = distill(config, corpus, str(teacher), tmp_path / "student", cache_dir=tmp_path / "cache")
    assert result.caches == {"train": CacheOutcome.NEW, "unlabeled": CacheOutcome.NEW}
    assert result.soft_sentences == len(corpus.train) + 2
    soft = calls[0]
    assert [list(words) for words in soft.extra_words] == [line.split() for line in text.read_text().splitlines()]
    assert [len(t) for t in soft.extra] == [6, 9] and soft.extra_documents == [0, 1]
    _, tokenizer = build_tagger(config.model, corpus.label_set)
    plan = EncodingPlan.for_config(config.data, tokenizer, corpus.label_set)
    gold_windows = encode(plan, [s.words for s in corpus.train], [[0] * len(s.words) for s in corpus.train])
    training = SoftTraining.build(soft, plan, gold_windows)
    assert training.unlabelled_windows == 2 and len(training.dataset) == len(gold_windows) + 2
    for index in range(len(training.dataset)):
        item = training.dataset[index]
        labelled = index < len(gold_windows)
        # an unlabelled window has no gold loss: no labels, no word starts; its targets sit at its words' starts
        assert any(label != IGNORE for label in item["labels"]) == labelled
        assert (sum(item["word_starts"]) > 0) == labelled
        assert len(item[SOFT_TARGETS]) == sum(item["soft_starts"]) > 0
        np.testing.assert_allclose(np.asarray(item[SOFT_TARGETS]).sum(axis=1), 1.0, atol=1e-5)


def test_a_transfer_set_of_augmented_copies_follows_the_unlabelled_text_with_teacher_targets_only(
    tiny_bert: Path, corpus: Corpus, teacher: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _news(tmp_path)
    calls: list[SoftTargets] = []
    monkeypatch.setattr(distill_run, "train_model", _no_training(calls))
    config = _student_config(tiny_bert, unlabeled=(str(text),), transfer_copies=1.0, transfer_seed=5)
    result = distill(config, corpus, str(teacher), tmp_path / "student", cache_dir=tmp_path / "cache")
    copies = transfer_set(corpus.train, 1.0, config.train.augment_probability, seed=5, first_document=2)
    assert len(copies.words) > 0
    assert result.caches == {"train": CacheOutcome.NEW, "unlabeled": CacheOutcome.NEW, "transfer": CacheOutcome.NEW}
    assert result.soft_sentences == len(corpus.train) + 2 + len(copies.words)
    soft = calls[0]
    assert [tuple(words) for words in soft.extra_words[2:]] == list(copies.words)
    assert list(soft.extra_documents) == [0, 1, *copies.documents]
    assert [len(t) for t in soft.extra[2:]] == [len(words) for words in copies.words]
    # another student seed keeps the copies, so the teacher's scores of them are reused
    reseeded = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=11))
    again = distill(reseeded, corpus, str(teacher), tmp_path / "student2", cache_dir=tmp_path / "cache")
    assert again.caches["transfer"] == CacheOutcome.REUSED


def test_the_cli_student_is_an_ordinary_run_that_records_its_teacher(
    tiny_bert: Path, tiny_data: Path, teacher: Path, tmp_path: Path
) -> None:
    text = tmp_path / "more.txt"
    text.write_text("Fans cheered Maria Okafor in Lisbon .\n", encoding="utf-8")
    student = tmp_path / "student"
    argv = ["-q", "distill", "--teacher", str(teacher), "--data", str(tiny_data), "--output", str(student)]
    argv += ["--encoder", str(tiny_bert), "--epochs", "1", "--batch-size", "4", "--lr", "1e-3", "--bf16", "false"]
    argv += ["--teacher-cache", str(tmp_path / "cache"), "--unlabeled", str(text)]
    argv += ["--temperature", "3", "--alpha", "0.3", "--no-test"]
    assert main(argv) == 0
    recorded = read_saved_config(student).distill
    assert recorded == DistillConfig(
        teacher=str(teacher.resolve()),
        teacher_fingerprint=teacher_fingerprint(teacher).digest,
        temperature=3.0,
        alpha=0.3,
        unlabeled=(str(text.resolve()),),
    )
    assert (student / "eval" / "valid" / "metrics.json").is_file()
    # by default one transfer copy of each training sentence, scored by the teacher beside train and the text
    assert recorded.transfer_copies == 1.0
    assert sorted(path.name for path in (tmp_path / "cache").rglob("*.npz")) == [
        "train.npz",
        "transfer.npz",
        "unlabeled.npz",
    ]
    assert main(["-q", "evaluate", "--model", str(student), "--data", str(tiny_data / "test.conll")]) == 0
    # a plain train run records that it was not distilled, and resuming the student as one is refused
    assert load_config(None).distill.teacher == ""
    resumed = ["-q", "train", "--data", str(tiny_data), "--output", str(student), "--encoder", str(tiny_bert)]
    assert main([*resumed, "--epochs", "1", "--batch-size", "4", "--lr", "1e-3", "--bf16", "false", "--resume"]) == 2


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--augment", "mention"], "augmented copies have no teacher targets"),
        (["--alpha", "1.5"], "expected a number in [0, 1]"),
        (["--temperature", "0"], "expected a positive number"),
        (["--unlabeled-format", "xml"], "invalid choice"),
        (["--transfer-copies", "-1"], "expected a number >= 0"),
    ],
)
def test_bad_distill_settings_stop_with_one_line(
    tiny_bert: Path,
    tiny_data: Path,
    teacher: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    argv = ["-q", "distill", "--teacher", str(teacher), "--data", str(tiny_data), "--output", str(tmp_path / "s")]
    try:
        code = main([*argv, "--encoder", str(tiny_bert), "--teacher-cache", str(tmp_path / "c"), *flags])
    except SystemExit as parser_exit:  # a bad flag is refused by the parser itself
        code = parser_exit.code
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_a_distill_section_reads_from_toml_and_names_bad_keys(tmp_path: Path) -> None:
    path = tmp_path / "distill.toml"
    path.write_text('[distill]\ntemperature = 4\nalpha = 0.7\nunlabeled_format = "lines"\n', encoding="utf-8")
    assert load_config(path).distill == DistillConfig(temperature=4.0, alpha=0.7, unlabeled_format="lines")
    path.write_text("[distill]\nalpha = -0.1\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"distill\.alpha must be in \[0, 1\], not -0.1"):
        load_config(path)
    path.write_text("[distill]\ntransfer_copies = -2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"distill\.transfer_copies must be a number at least 0, not -2"):
        load_config(path)


def test_a_student_recorded_before_transfer_sets_were_the_default_reads_back_as_made_without_one(
    tmp_path: Path,
) -> None:
    assert load_config(None).distill.transfer_copies == 1.0  # today's default
    (tmp_path / "bertner.toml").write_text('[distill]\nteacher = "/runs/teacher"\nalpha = 0.5\n', encoding="utf-8")
    assert read_saved_config(tmp_path).distill == DistillConfig(teacher="/runs/teacher", transfer_copies=0.0)
