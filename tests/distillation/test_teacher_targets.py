"""The teacher's side of distillation: word distributions at T, their cache and its fingerprints, unlabelled text.

Oracles: brute force over every tag path (a CRF teacher's marginals at T), the softmax at T written out (a
teacher without a CRF), the mean of the members' distributions (an ensemble), and files changed by hand for
the fingerprints.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from distill_oracle import brute_word_distributions

from bertner.config import DataConfig
from bertner.data.corpus import load_corpus
from bertner.decoding.chain import LinearChain
from bertner.decoding.words import WordScores
from bertner.distillation.cache import CachedScores, CacheOutcome, cached_scores
from bertner.distillation.fingerprint import data_fingerprint, teacher_fingerprint
from bertner.distillation.teacher import TeacherScores, legal_chain, score_sentences, word_distributions
from bertner.distillation.unlabeled import read_unlabeled
from bertner.errors import UserError
from bertner.inference.ensemble.folder import load_tagging_model
from bertner.inference.ensemble.write import make_ensemble
from bertner.inference.hf_labels import ModelLabels
from bertner.labels import LabelSet, Scheme
from tiny_models import write_random_run, write_tiny_bert

TEACHER_LABELS = ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
STUDENT_LABELS = ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-PER", "I-PER")


def _scores(seed: int, lengths: list[int], crf: bool) -> WordScores:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (sum(lengths), len(TEACHER_LABELS))).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    chain = None
    if crf:
        legal = legal_chain(TEACHER_LABELS)
        chain = LinearChain(
            transitions=rng.normal(0, 1, (5, 5)).astype(np.float32),
            start=rng.normal(0, 1, 5).astype(np.float32),
            end=rng.normal(0, 1, 5).astype(np.float32),
            allowed=legal.allowed,
            allowed_start=legal.allowed_start,
        )
    return WordScores(logits, offsets, chain)


def _student_columns(distribution: np.ndarray) -> np.ndarray:
    """A teacher-order distribution put in the student's columns (MISC: 0)."""
    out = np.zeros((len(distribution), len(STUDENT_LABELS)))
    out[:, [STUDENT_LABELS.index(tag) for tag in TEACHER_LABELS]] = distribution
    return out


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_a_crf_teachers_targets_are_its_marginals_at_t_in_the_students_columns(temperature: float) -> None:
    scores = _scores(0, [3, 1, 4], crf=True)
    targets = word_distributions(TeacherScores((scores,), TEACHER_LABELS), STUDENT_LABELS, temperature, True)
    assert [len(t) for t in targets] == [3, 1, 4]
    assert scores.crf is not None
    for sentence, emissions in zip(targets, scores.sentences(), strict=True):
        expected = brute_word_distributions(scores.crf, emissions.astype(np.float64), temperature)
        np.testing.assert_allclose(sentence, _student_columns(expected), atol=1e-6)
        np.testing.assert_allclose(sentence.sum(axis=1), 1.0, atol=1e-6)


def test_a_teacher_without_a_crf_gives_its_softmax_at_t_or_its_legal_paths_for_a_crf_student() -> None:
    scores = _scores(1, [4, 2], crf=False)
    teacher = TeacherScores((scores,), TEACHER_LABELS)
    plain = word_distributions(teacher, STUDENT_LABELS, 2.0, legal_only=False)
    softened = np.exp(scores.logits / 2.0)
    softened /= softened.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(np.concatenate(plain), _student_columns(softened), atol=1e-6)
    legal = word_distributions(teacher, STUDENT_LABELS, 2.0, legal_only=True)
    for sentence, emissions in zip(legal, scores.sentences(), strict=True):
        expected = brute_word_distributions(legal_chain(TEACHER_LABELS), emissions.astype(np.float64), 2.0)
        np.testing.assert_allclose(sentence, _student_columns(expected), atol=1e-6)
        # no sentence starts inside an entity
        assert sentence[0, [STUDENT_LABELS.index("I-LOC"), STUDENT_LABELS.index("I-PER")]].max() < 1e-12


def test_an_ensembles_targets_are_the_mean_of_its_members() -> None:
    members = (_scores(2, [3, 2], crf=True), _scores(3, [3, 2], crf=False))
    together = word_distributions(TeacherScores(members, TEACHER_LABELS), STUDENT_LABELS, 2.0, True)
    alone = [word_distributions(TeacherScores((m,), TEACHER_LABELS), STUDENT_LABELS, 2.0, True) for m in members]
    for index, sentence in enumerate(together):
        np.testing.assert_allclose(sentence, (alone[0][index] + alone[1][index]) / 2, atol=1e-6)


def test_a_teacher_label_the_student_lacks_is_refused() -> None:
    scores = TeacherScores((_scores(4, [2], crf=False),), TEACHER_LABELS)
    with pytest.raises(ValueError, match="B-PER"):
        word_distributions(scores, ("O", "B-LOC", "I-LOC"), 1.0, False)


def test_an_ensemble_teacher_is_scored_member_by_member(tiny_bert: Path, tmp_path: Path) -> None:
    labels = LabelSet(TEACHER_LABELS)
    char_bert = write_tiny_bert(tmp_path / "char-bert", whole_words=False)
    first = write_random_run(tiny_bert, tmp_path / "a", labels, crf=True, seed=1)
    second = write_random_run(char_bert, tmp_path / "b", labels, crf=False, seed=2)
    make_ensemble([str(first), str(second)], tmp_path / "ensemble")
    words = [["Maria", "flew", "to", "Lisbon"], ["Tomas", "Berg"]]
    scores = score_sentences(load_tagging_model(tmp_path / "ensemble"), words, None)
    assert len(scores.members) == 2
    for member, folder in zip(scores.members, (first, second), strict=True):
        alone = load_tagging_model(folder).word_scores(words)
        np.testing.assert_array_equal(member.logits, alone.logits)
        assert (member.crf is None) == (alone.crf is None)
    # the fingerprint covers the manifest and both members' files
    names = {name for name, _ in teacher_fingerprint(tmp_path / "ensemble").files}
    assert {"ensemble/ensemble.json", "0/labels.json", "1/labels.json"} <= names


def _fake_scores(value: float) -> TeacherScores:
    logits = np.full((3, len(TEACHER_LABELS)), value, dtype=np.float32)
    return TeacherScores((WordScores(logits, np.array([0, 2, 3])),), TEACHER_LABELS)


def test_the_cache_is_reused_only_while_teacher_and_data_are_unchanged(
    tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    teacher = write_random_run(tiny_bert, tmp_path / "teacher", LabelSet(TEACHER_LABELS), crf=True)
    path = tmp_path / "cache" / "train.npz"
    sentences = [["a", "b"], ["c"]]
    calls: list[float] = []

    def cache(documents: list[int], value: float) -> CachedScores:
        def compute() -> TeacherScores:
            calls.append(value)
            return _fake_scores(value)

        return cached_scores(path, teacher_fingerprint(teacher), data_fingerprint(sentences, documents), compute)

    first = cache([0, 0], 1.0)
    assert (first.outcome, calls) == (CacheOutcome.NEW, [1.0])
    # reports, metrics and checkpoints written into the teacher's folder do not change what it computes
    (teacher / "eval" / "valid").mkdir(parents=True)
    (teacher / "eval" / "valid" / "metrics.json").write_text("{}")
    (teacher / "metrics.jsonl").write_text("{}\n")
    again = cache([0, 0], 2.0)
    assert (again.outcome, calls) == (CacheOutcome.REUSED, [1.0])
    np.testing.assert_array_equal(again.scores.members[0].logits, first.scores.members[0].logits)
    assert again.scores.members[0].crf is None and again.scores.labels == TEACHER_LABELS
    # other sentences (here a document boundary moved)
    assert (cache([0, 1], 3.0).outcome, calls) == (CacheOutcome.DATA_CHANGED, [1.0, 3.0])
    # the teacher retrained in place: its weights changed, and the log names the file
    write_random_run(tiny_bert, teacher, LabelSet(TEACHER_LABELS), crf=True, seed=7)
    with caplog.at_level(logging.INFO, logger="bertner.distillation.cache"):
        assert (cache([0, 1], 4.0).outcome, calls) == (CacheOutcome.TEACHER_CHANGED, [1.0, 3.0, 4.0])
    assert "the teacher changed" in caplog.text and ".safetensors" in caplog.text
    assert float(cache([0, 1], 5.0).scores.members[0].logits[0, 0]) == 4.0
    # a damaged file is scored again, not trusted
    path.write_bytes(b"not a zip")
    assert cache([0, 1], 6.0).outcome is CacheOutcome.UNREADABLE
    assert calls == [1.0, 3.0, 4.0, 6.0]


def test_a_crf_teachers_chain_survives_the_cache(tmp_path: Path) -> None:
    scores = TeacherScores((_scores(5, [2, 3], crf=True), _scores(6, [2, 3], crf=False)), TEACHER_LABELS)
    fingerprint = teacher_fingerprint("some/hub-model")
    cached_scores(tmp_path / "c.npz", fingerprint, "d", lambda: scores)
    back = cached_scores(tmp_path / "c.npz", fingerprint, "d", lambda: pytest.fail("scored again"))
    for before, after in zip(scores.members, back.scores.members, strict=True):
        np.testing.assert_array_equal(before.logits, after.logits)
        np.testing.assert_array_equal(before.offsets, after.offsets)
        if before.crf is None:
            assert after.crf is None
        else:
            assert after.crf is not None
            np.testing.assert_array_equal(before.crf.transitions, after.crf.transitions)
            np.testing.assert_array_equal(before.crf.allowed, after.crf.allowed)


@dataclass(frozen=True)
class _ForeignModel:
    labels: ModelLabels
    path: str = "bioes-model"


def test_a_teacher_whose_labels_are_not_iob2_is_refused() -> None:
    foreign = _ForeignModel(ModelLabels(("O", "B-PER", "I-PER", "E-PER", "S-PER"), Scheme.BIOES))
    with pytest.raises(UserError, match="bioes-model: its labels are BIOES"):
        score_sentences(foreign, [["a"]], None)  # type: ignore[arg-type]


def test_unlabelled_text_jsonl_and_conll_become_sentences_with_documents(tmp_path: Path, tiny_data: Path) -> None:
    lines = tmp_path / "news.txt"
    lines.write_text("Maria Okafor flew to Lisbon. She met Tomas Berg.\nThe Harbour Trust hired him.\n", "utf-8")
    records = tmp_path / "more.jsonl"
    records.write_text(json.dumps({"id": 1, "text": "Fans cheered in Oslo."}) + "\n", encoding="utf-8")
    text = read_unlabeled([lines, records, tiny_data / "dev.conll"])
    dev = load_corpus(str(tiny_data), DataConfig()).valid
    assert text.words[:4] == (
        ("Maria", "Okafor", "flew", "to", "Lisbon", "."),
        ("She", "met", "Tomas", "Berg", "."),
        ("The", "Harbour", "Trust", "hired", "him", "."),
        ("Fans", "cheered", "in", "Oslo", "."),
    )
    assert text.words[4:] == tuple(s.words for s in dev)
    # a text per line is a document, and documents are numbered across files
    assert text.documents[:4] == (0, 0, 1, 2)
    assert min(text.documents[4:]) == 3
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty.txt"):
        read_unlabeled([empty])
