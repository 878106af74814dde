"""Ensembles: each member's per-word scores, computed by calling its tokenizer and network directly, are the oracle;
the averaging and the CRF decoding are done again by hand (numpy, brute force over every tag path)."""

from __future__ import annotations

import itertools
import json
import shutil
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

from bertner.config import DataConfig
from bertner.data.alignment import first_subtokens
from bertner.data.conll import Sentence
from bertner.data.corpus import read_split
from bertner.decoding.words import decode_words
from bertner.inference.ensemble.folder import load_tagging_model, read_ensemble_manifest
from bertner.inference.ensemble.model import EnsembleModel, in_label_order
from bertner.inference.ensemble.write import make_ensemble
from bertner.inference.hf_labels import ModelLabels
from bertner.inference.load import load_inference_model
from bertner.inference.onnx.export import export_onnx
from bertner.inference.predictor import Predictor
from bertner.inference.tagging import TaggedWords, tag_words
from bertner.labels import LabelSet, Scheme, first_illegal
from bertner.layout import ENSEMBLE_MANIFEST
from bertner.model.build import LoadedModel, build_tagger
from bertner.model.store import load_model, save_model
from entity_oracle import independent_entity_probability
from tiny_models import built_run_config, plain_model_config, write_random_run, write_tiny_bert

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


@pytest.fixture(scope="module")
def sentences(tiny_data: Path) -> list[Sentence]:
    return [s for split in ("train", "valid", "test") for s in read_split(tiny_data, split, DataConfig())]


@pytest.fixture(scope="module")
def runs(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Saved untrained runs with random heads: two plain and two with a CRF, each pair of two seeds. Their word
    scores are about as large as their CRF transitions, so that both decide the best path."""
    root = tmp_path_factory.mktemp("members")
    return {
        f"{'crf' if crf else 'plain'}{seed}": write_random_run(
            tiny_bert, root / f"{crf}-{seed}", LABELS, crf, seed, head_std=0.5
        )
        for crf in (False, True)
        for seed in (0, 1)
    }


@pytest.fixture(scope="module")
def char_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT whose tokenizer knows characters only: another vocabulary, every word split into pieces."""
    return write_tiny_bert(tmp_path_factory.mktemp("char-bert"), whole_words=False)


def _tag(model_path: Path, sentences: Sequence[Sentence]) -> TaggedWords:
    return tag_words(load_tagging_model(model_path), [s.words for s in sentences], batch_size=4)


def _word_logits(model: LoadedModel, words: Sequence[str]) -> np.ndarray:
    """The oracle for one member: (words, num_labels) logits at each word's first sub-token, from its tokenizer
    and network called directly on one short sentence (one window, no bertner encoding or batching)."""
    encoded = model.tokenizer(list(words), is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        logits = model.tagger(encoded["input_ids"], encoded["attention_mask"]).logits[0]
    positions = first_subtokens(encoded.word_ids(0))
    assert len(positions) == len(words)
    return logits[positions].double().numpy()


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("member", ["plain0", "crf0"])
def test_two_identical_members_give_the_members_predictions(
    runs: dict[str, Path], member: str, sentences: list[Sentence], tmp_path: Path
) -> None:
    ensemble = make_ensemble([str(runs[member])] * 2, tmp_path / "ensemble").output
    alone, together = _tag(runs[member], sentences), _tag(ensemble, sentences)
    assert any(tag != "O" for row in alone.tags for tag in row), "the oracle needs predicted entities"
    assert together.tags == alone.tags
    assert together.entities == alone.entities
    for got, expected in zip(together.scores, alone.scores, strict=True):
        assert got == pytest.approx(expected, abs=1e-6)


def test_each_member_sees_the_document_context_its_own_config_asks_for(
    runs: dict[str, Path], sentences: list[Sentence], tmp_path: Path
) -> None:
    model = load_model(runs["plain0"])
    context = replace(model.config, data=replace(model.config.data, context=24))
    save_model(replace(model, config=context), tmp_path / "context")
    ensemble = load_tagging_model(make_ensemble([str(tmp_path / "context")] * 2, tmp_path / "ensemble").output)
    member = load_inference_model(tmp_path / "context")
    words, documents = [s.words for s in sentences], [s.document for s in sentences]
    in_documents = tag_words(member, words, documents=documents).tags
    assert in_documents != tag_words(member, words).tags, "context must change the member's predictions"
    assert tag_words(ensemble, words, documents=documents).tags == in_documents


def _bias_run(tiny_bert: Path, folder: Path, logits: dict[str, float]) -> Path:
    """A run whose head ignores the encoder: every word gets `logits` (0 for the labels not named)."""
    model_config = plain_model_config(tiny_bert)
    tagger, tokenizer = build_tagger(model_config, LABELS)
    with torch.no_grad():
        tagger.classifier.weight.zero_()
        tagger.classifier.bias.copy_(torch.tensor([logits.get(tag, 0.0) for tag in LABELS.labels]))
    save_model(LoadedModel(tagger.eval(), tokenizer, LABELS, built_run_config(model_config)), folder)
    return folder


def _bias_hf_model(tiny_bert: Path, folder: Path, names: Sequence[str], logits: dict[str, float]) -> Path:
    """An HF token-classification model (labels in the order `names`) whose every word gets `logits`."""
    config = BertConfig.from_pretrained(
        tiny_bert, id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)}
    )
    model = BertForTokenClassification(config)
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([logits.get(name, 0.0) for name in names]))
    model.save_pretrained(folder)
    BertTokenizerFast.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


def test_averaging_is_the_mean_of_the_members_word_probabilities(tiny_bert: Path, tmp_path: Path) -> None:
    # A bertner run and an HF model whose labels are in another order: each leans to its own type, and both
    # rank B-LOC second, so only the average of their probabilities makes B-LOC the best.
    run_logits = {"B-PER": 2.0, "B-LOC": 1.6}
    hf_logits = {"B-ORG": 2.0, "B-LOC": 1.6}
    hf_names = list(reversed(LABELS.labels))
    run = _bias_run(tiny_bert, tmp_path / "run", run_logits)
    hf = _bias_hf_model(tiny_bert, tmp_path / "hf", hf_names, hf_logits)
    ensemble = make_ensemble([str(run), str(hf)], tmp_path / "ensemble").output
    tagged = tag_words(load_tagging_model(ensemble), [["Maria", "flew", "to", "Lisbon"]])

    # By hand: each member's softmax, the HF model's columns put in the run's label order, then the mean.
    run_p = _softmax(np.array([run_logits.get(tag, 0.0) for tag in LABELS.labels]))
    hf_p = _softmax(np.array([hf_logits.get(name, 0.0) for name in hf_names]))
    hf_p = hf_p[[hf_names.index(tag) for tag in LABELS.labels]]
    mean = (run_p + hf_p) / 2
    best = int(mean.argmax())
    assert LABELS.labels[best] == "B-LOC" != LABELS.labels[int(run_p.argmax())]
    assert mean[best] != pytest.approx(_softmax((np.log(run_p) + np.log(hf_p)) / 2).max(), abs=1e-3)
    assert tagged.tags == (("B-LOC",) * 4,)
    # Each word is a one-word LOC entity; its probability by the product formula (README) on the mean:
    # opened here (B-LOC, or I-LOC after a word that is neither B-LOC nor I-LOC), and not continued after.
    opens, continues = mean[LABELS.label2id["B-LOC"]], mean[LABELS.label2id["I-LOC"]]
    first = opens + continues
    middle = (opens + continues * (1 - opens - continues)) * (1 - continues)
    expected = [first * (1 - continues), middle, middle, opens + continues * (1 - opens - continues)]
    assert tagged.scores[0] == pytest.approx(expected, abs=1e-6)


def test_members_with_different_tokenizers_are_averaged_word_by_word(
    tiny_bert: Path, char_bert: Path, sentences: list[Sentence], tmp_path: Path
) -> None:
    # Spread-out probabilities: with one label near 1 in each member, two members that disagree tie at 0.5.
    words_member = write_random_run(tiny_bert, tmp_path / "words", LABELS, seed=0, head_std=0.3)
    chars_member = write_random_run(char_bert, tmp_path / "chars", LABELS, seed=1, head_std=0.3)
    ensemble = make_ensemble([str(words_member), str(chars_member)], tmp_path / "ensemble").output
    short = [s for s in sentences if sum(len(w) for w in s.words) < 200]
    tagged = _tag(ensemble, short)
    assert len({tag for row in tagged.tags for tag in row}) > 3, "the oracle needs a mix of predicted tags"
    members = [load_model(m) for m in (words_member, chars_member)]
    assert len(members[1].tokenizer.tokenize("Lisbon")) > len(members[0].tokenizer.tokenize("Lisbon"))

    for sentence, tags, entities, scores in zip(short, tagged.tags, tagged.entities, tagged.scores, strict=True):
        mean = sum(_softmax(_word_logits(member, sentence.words)) for member in members) / 2
        assert list(tags) == [LABELS.labels[i] for i in mean.argmax(axis=1)]
        assert list(scores) == pytest.approx(
            [independent_entity_probability(mean, e, LABELS) for e in entities], abs=1e-5
        )


def _best_legal_path(emissions: np.ndarray, start: np.ndarray, end: np.ndarray, transitions: np.ndarray) -> list[str]:
    """Brute force: the legal IOB2 tag path of the highest score over every path of the sentence's length."""
    best, best_score = None, -np.inf
    for path in itertools.product(range(len(LABELS)), repeat=len(emissions)):
        tags = [LABELS.labels[i] for i in path]
        if first_illegal(tags, Scheme.IOB2) is not None:
            continue
        score = start[path[0]] + end[path[-1]] + emissions[np.arange(len(path)), path].sum()
        score += sum(transitions[a, b] for a, b in itertools.pairwise(path))
        if score > best_score:
            best, best_score = tags, score
    assert best is not None
    return best


@pytest.mark.parametrize("members", [("crf0", "crf1"), ("crf0", "plain1")], ids=["crf+crf", "crf+plain"])
def test_a_crf_ensemble_decodes_the_best_legal_path_of_the_mean_scores(
    runs: dict[str, Path], members: tuple[str, str], sentences: list[Sentence], tmp_path: Path
) -> None:
    folders = [runs[name] for name in members]
    ensemble = make_ensemble([str(f) for f in folders], tmp_path / "ensemble").output
    tagged = _tag(ensemble, sentences)
    for tags in tagged.tags:
        assert first_illegal(tags, Scheme.IOB2) is None

    # The oracle: mean emissions and mean CRF scores (zero for a member without a CRF), best path by brute force.
    short = [
        ("Maria", "Okafor", "flew", "Lisbon"),
        ("Quill", "hired", "Anika", "Rao"),
        ("Rain", "fell", "in", "Lisbon"),
    ]
    models = [load_model(f) for f in folders]
    crfs = [model.tagger.crf for model in models]
    scores = {}
    for name in ("start_transitions", "end_transitions", "transitions"):
        scores[name] = sum(getattr(crf, name).detach().double().numpy() for crf in crfs if crf is not None) / 2
    got = _tag(ensemble, [Sentence(words, ("O",) * len(words)) for words in short]).tags
    for words, tags in zip(short, got, strict=True):
        emissions = sum(_word_logits(model, words) for model in models) / 2
        assert list(tags) == _best_legal_path(emissions, *scores.values())
    # The constraints did work: the mean emissions' own argmax is not legal IOB2 on the corpus.
    unconstrained = [
        [LABELS.labels[i] for i in sum(_word_logits(model, s.words) for model in models).argmax(axis=1)]
        for s in sentences[:8]
    ]
    assert any(first_illegal(tags, Scheme.IOB2) is not None for tags in unconstrained)


@pytest.mark.parametrize("member", ["plain0", "crf0"])
def test_scores_put_in_another_label_order_decode_to_the_same_tags(
    runs: dict[str, Path], member: str, sentences: list[Sentence]
) -> None:
    scores = load_inference_model(runs[member]).word_scores([s.words for s in sentences])
    order = ModelLabels(tuple(reversed(LABELS.labels)), Scheme.IOB2)
    permuted = in_label_order(scores, LABELS.labels, order)
    assert (permuted.crf is None) == (scores.crf is None)
    expected = [[LABELS.labels[i] for i in row] for row in decode_words(scores).label_ids]
    assert [[order.tags[i] for i in row] for row in decode_words(permuted).label_ids] == expected


def test_an_ensemble_of_a_run_and_its_onnx_export_runs_on_both_backends(
    runs: dict[str, Path], sentences: list[Sentence], tmp_path: Path
) -> None:
    run = runs["crf0"]
    export = export_onnx(load_inference_model(run, backend="torch"), tmp_path / "export", sentences).output
    ensemble = load_tagging_model(make_ensemble([str(run), str(export)], tmp_path / "ensemble").output)
    assert (ensemble.kind, ensemble.backend) == ("ensemble", "torch+onnx")
    words = [s.words for s in sentences]
    assert tag_words(ensemble, words).tags == tag_words(load_inference_model(run), words).tags
    assert load_tagging_model(tmp_path / "ensemble", backend="onnx").backend == "onnx"


def test_predictor_and_server_take_an_ensemble_folder(runs: dict[str, Path], tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from bertner.serving.app import create_app

    folder = make_ensemble([str(runs["plain0"])] * 2, tmp_path / "ensemble").output
    texts = ["Maria Okafor flew to Lisbon on Tuesday .", "Quill hired Anika Rao ."]
    predictor = Predictor.load(folder)
    expected = Predictor.load(runs["plain0"]).predict(texts)
    got = predictor.predict(texts)
    assert [[(e.start, e.end, e.type) for e in row] for row in got] == [
        [(e.start, e.end, e.type) for e in row] for row in expected
    ]
    info = TestClient(create_app(predictor)).get("/v1/model").json()
    assert (info["kind"], info["labels"]) == ("ensemble", list(LABELS.labels))


def test_copied_members_live_inside_the_folder(
    runs: dict[str, Path], sentences: list[Sentence], tmp_path: Path
) -> None:
    source = tmp_path / "run"
    shutil.copytree(runs["crf1"], source)
    (source / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    folder = make_ensemble([str(source), str(runs["plain0"])], tmp_path / "ensemble", copy=True).output
    expected = _tag(folder, sentences)
    shutil.rmtree(source)
    manifest = read_ensemble_manifest(folder)
    assert manifest.copied and all(not Path(m.path).is_absolute() for m in manifest.members)
    assert manifest.members[0].source == str(source.resolve())
    assert not (folder / manifest.members[0].path / "checkpoints").exists()
    assert _tag(folder, sentences).tags == expected.tags


def test_an_earlier_ensemble_is_replaced_whole(runs: dict[str, Path], tmp_path: Path) -> None:
    output = tmp_path / "ensemble"
    make_ensemble([str(runs["plain0"]), str(runs["plain1"])], output, copy=True)
    make_ensemble([str(runs["crf0"]), str(runs["crf1"])], output)
    manifest = read_ensemble_manifest(output)
    assert not manifest.copied
    assert [m.source for m in manifest.members] == [str(runs[name].resolve()) for name in ("crf0", "crf1")]
    assert sorted(p.name for p in output.iterdir()) == [ENSEMBLE_MANIFEST]
    assert [p.name for p in tmp_path.iterdir()] == ["ensemble"]


def test_a_member_with_other_labels_is_refused_by_name_and_nothing_is_written(
    tiny_bert: Path, runs: dict[str, Path], tmp_path: Path
) -> None:
    other = write_random_run(tiny_bert, tmp_path / "per-only", LabelSet.from_types(["PER"]))
    output = tmp_path / "ensemble"
    with pytest.raises(ValueError, match=rf"{other}: its labels are not the ensemble's .*lacks \['B-LOC'"):
        make_ensemble([str(runs["plain0"]), str(other)], output)
    assert not output.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["per-only"]


def test_a_missing_member_is_named(runs: dict[str, Path], tmp_path: Path) -> None:
    member = tmp_path / "run"
    shutil.copytree(runs["plain1"], member)
    folder = make_ensemble([str(runs["plain0"]), str(member)], tmp_path / "ensemble").output
    shutil.rmtree(member)
    with pytest.raises(ValueError, match=rf"{ENSEMBLE_MANIFEST}: member 2 of 2 \({member}\) is missing"):
        load_tagging_model(folder)
    with pytest.raises(ValueError, match=rf"{member}"):
        make_ensemble([str(runs["plain0"]), str(member)], tmp_path / "another")
    assert not (tmp_path / "another").exists()


def test_a_member_whose_labels_changed_since_is_refused_on_load(
    tiny_bert: Path, runs: dict[str, Path], tmp_path: Path
) -> None:
    member = tmp_path / "run"
    shutil.copytree(runs["plain1"], member)
    folder = make_ensemble([str(runs["plain0"]), str(member)], tmp_path / "ensemble").output
    shutil.rmtree(member)
    write_random_run(tiny_bert, member, LabelSet.from_types(["LOC", "PER"]))
    with pytest.raises(ValueError, match=rf"{ENSEMBLE_MANIFEST}: {member}: its labels are not the ensemble's"):
        load_tagging_model(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "format: 2"),
        ({"members": []}, "members: expected a non-empty list"),
        ({"copied": "no"}, "copied: expected true or false"),
        ({"scheme": "IOB9"}, "scheme: expected one of"),
    ],
)
def test_a_damaged_manifest_is_refused_naming_the_field(
    runs: dict[str, Path], tmp_path: Path, change: dict[str, object], message: str
) -> None:
    folder = make_ensemble([str(runs["plain0"]), str(runs["plain1"])], tmp_path / "ensemble").output
    path = folder / ENSEMBLE_MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **change}), encoding="utf-8")
    with pytest.raises(ValueError, match=rf"{path}: {message}"):
        load_tagging_model(folder)


def test_bad_member_lists_and_outputs_are_refused(runs: dict[str, Path], tmp_path: Path) -> None:
    one, two = str(runs["plain0"]), str(runs["plain1"])
    with pytest.raises(ValueError, match="at least 2 members, got 1"):
        make_ensemble([one], tmp_path / "a")
    nested = make_ensemble([one, two], tmp_path / "nested").output
    with pytest.raises(ValueError, match=f"{nested}: an ensemble folder; members must be single models"):
        make_ensemble([one, str(nested)], tmp_path / "b")
    with pytest.raises(ValueError, match="not a local folder; --copy"):
        make_ensemble([one, "owner/hub-model"], tmp_path / "c", copy=True)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match="neither empty nor an earlier ensemble"):
        make_ensemble([one, two], busy)
    with pytest.raises(ValueError, match="cannot be exported"):
        load_inference_model(nested)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "nested"]


def test_an_ensemble_of_in_memory_members_checks_their_labels(tiny_bert: Path, runs: dict[str, Path]) -> None:
    member = load_inference_model(runs["plain0"])
    ensemble = EnsembleModel.of([member, member], "two")
    assert (ensemble.labels, ensemble.config.model.encoder) == (member.labels, f"{tiny_bert} + {tiny_bert}")
