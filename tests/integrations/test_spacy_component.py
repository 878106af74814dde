"""The spaCy component: `bertner predict`'s entities on spaCy docs, batching, alignment, and to_disk/spacy.load."""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import torch

pytest.importorskip("spacy", reason="the spaCy component needs the spacy extra: pip install 'bertner[spacy]'")

import spacy

from bertner.cli import main
from bertner.data.segment import segment
from bertner.errors import UserError
from bertner.inference.predictor import Predictor, TextEntity
from bertner.integrations.spacy_component import MODEL_DIR, BertnerComponent, make_bertner
from bertner.labels import LabelSet
from bertner.model.store import load_model, save_model
from tiny_models import write_random_run

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])


@pytest.fixture(scope="module")
def random_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained run with a CRF and large random scores: a mix of entities only the Predictor can tell."""
    return write_random_run(tiny_bert, tmp_path_factory.mktemp("random-run"), LABELS, crf=True)


@pytest.fixture(scope="module")
def per_run(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose head says B-PER for every word: each word is an entity of its own."""
    model = load_model(write_random_run(tiny_bert, tmp_path_factory.mktemp("random-plain"), LABELS))
    with torch.no_grad():
        model.tagger.classifier.weight.zero_()
        model.tagger.classifier.bias.zero_()
        model.tagger.classifier.bias[LABELS.label2id["B-PER"]] = 20.0
    folder = tmp_path_factory.mktemp("per-run")
    save_model(model, folder)
    return folder


TEXTS = [
    "Maria Okafor flew to Lisbon for Quill Systems .",
    "🙂 Zürich's 𠀀 office\r\nopened in New-York's west .",
    "U.S.-based firms , 3.5 percent",
    "",
    "Danish  Lisbon\n\nMaria",
]


def _predicted(run: Path, texts: Sequence[str], tmp_path: Path) -> list[list[dict[str, object]]]:
    """What `bertner predict` writes for `texts` (one per line)."""
    source, output = tmp_path / "texts.txt", tmp_path / "predicted.jsonl"
    source.write_text("".join(text.replace("\r\n", " ").replace("\n", " ") + "\n" for text in texts), "utf-8")
    assert main(["-q", "predict", "--model", str(run), "--input", str(source), "--output", str(output)]) == 0
    return [json.loads(line)["entities"] for line in output.read_text("utf-8").splitlines()]


def _found(doc: spacy.tokens.Doc) -> list[dict[str, object]]:
    """The component's entities as bertner's own: the span group's characters, labels and scores."""
    group = doc.spans["bertner"]
    chars, scores = group.attrs["char_spans"], group.attrs["scores"]
    return [
        {"start": s, "end": e, "text": doc.text[s:e], "type": span.label_, "score": score}
        for (s, e), span, score in zip(chars, group, scores, strict=True)
    ]


@pytest.mark.parametrize("fixture", ["random_run", "per_run"])
def test_entities_equal_bertner_predicts(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run = request.getfixturevalue(fixture)
    # predict reads one text per line: line breaks inside a text become spaces, for both.
    texts = [text.replace("\r\n", " ").replace("\n", " ") for text in TEXTS]
    nlp = spacy.blank("en")
    nlp.add_pipe("bertner", config={"model": str(run)})
    docs = list(nlp.pipe(texts))
    assert [_found(doc) for doc in docs] == _predicted(run, texts, tmp_path)
    assert sum(len(doc.ents) for doc in docs) >= 5  # the comparison is not between empty lists
    for doc in docs:
        exact = {(e["start"], e["end"], e["type"]) for e in _found(doc)}
        for ent in doc.ents:  # each entity of doc.ents is bertner's, or its widening onto spaCy's tokens
            assert ent._.bertner_score is not None
            if (ent.start_char, ent.end_char, ent.label_) not in exact:
                assert any(ent.start_char <= s and e <= ent.end_char for s, e, _ in exact)
    if fixture == "per_run":  # every word is an entity: some were widened, and the counts say so
        assert [len(_found(doc)) for doc in docs] == [len(segment(text)) for text in texts]
        assert docs[2].spans["bertner"].attrs["realigned"] == 3  # U.S. - based: one spaCy token
        assert docs[2].spans["bertner"].attrs["overlapping"] == 2
        assert [e.text for e in docs[2].ents] == ["U.S.-based", "firms", ",", "3.5", "percent"]


@dataclass
class FixedPredictor:
    """Returns the given entities for each text, and records the texts of each call."""

    entities: list[TextEntity] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)

    def predict(self, texts: Sequence[str]) -> list[list[TextEntity]]:
        self.calls.append(list(texts))
        return [[e for e in self.entities if e.end <= len(text)] for text in texts]


ALIGN_TEXT = "U.S.-based firm in New York"
ALIGN_ENTITIES = [
    TextEntity(start=0, end=4, text="U.S.", type="LOC", score=0.9),
    TextEntity(start=5, end=10, text="based", type="MISC", score=0.8),
    TextEntity(start=11, end=17, text="firm i", type="ORG", score=0.7),
    TextEntity(start=19, end=27, text="New York", type="LOC", score=0.6),
]


@pytest.mark.parametrize(
    ("mode", "ents", "group", "counts"),
    [
        # Hand-computed from the tokens: U.S.-based [0, 10) | firm [11, 15) | in [16, 18) | New [19, 22) | York
        (
            "expand",
            [("U.S.-based", "LOC"), ("firm in", "ORG"), ("New York", "LOC")],
            ["U.S.-based", "U.S.-based", "firm in", "New York"],
            {"realigned": 3, "unaligned": 0, "overlapping": 1},
        ),
        ("contract", [("firm", "ORG"), ("New York", "LOC")], ["firm", "New York"], {"realigned": 1, "unaligned": 2}),
        ("strict", [("New York", "LOC")], ["New York"], {"realigned": 0, "unaligned": 3, "overlapping": 0}),
    ],
)
def test_alignment_modes(mode: str, ents: list[tuple[str, str]], group: list[str], counts: dict[str, int]) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bertner", config={"model": "unused", "alignment_mode": mode})
    component = nlp.get_pipe("bertner")
    component._predictor = FixedPredictor(ALIGN_ENTITIES)
    doc = nlp(ALIGN_TEXT)
    assert [(e.text, e.label_) for e in doc.ents] == ents
    spans = doc.spans["bertner"]
    assert [span.text for span in spans] == group
    assert {name: spans.attrs[name] for name in counts} == counts
    # The scores and bertner's own characters stay with the spans that were kept.
    kept = [e for e in ALIGN_ENTITIES if any(e.start < s.end_char and s.start_char < e.end for s in spans)]
    assert spans.attrs["scores"] == [e.score for e in kept]
    assert spans.attrs["char_spans"] == [[e.start, e.end] for e in kept]
    assert component.counts["entities"] == 4


def test_pipe_makes_one_predictor_call_per_batch(per_run: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bertner", config={"model": str(per_run)})
    component = nlp.get_pipe("bertner")
    counting = FixedPredictor()
    real = Predictor.load(per_run)
    counting.predict = lambda texts: (counting.calls.append(list(texts)), real.predict(texts))[1]  # type: ignore[method-assign]
    component._predictor = counting
    texts = [f"Maria Okafor {i} flew to Lisbon ." for i in range(7)]
    docs = list(nlp.pipe(texts, batch_size=3))
    assert [len(call) for call in counting.calls] == [3, 3, 1]
    assert [doc.text for doc in docs] == texts
    one_by_one = [[(e.start_char, e.end_char, e.label_) for e in nlp(text).ents] for text in texts]
    assert [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in docs] == one_by_one


def test_a_long_text_is_tagged_whole(per_run: Path) -> None:
    words = ["Maria", "Okafor", "flew", "to", "Lisbon"] * 240  # 1,200 words, far past one 512-token window
    text = " ".join(words)
    nlp = spacy.blank("en")
    nlp.add_pipe("bertner", config={"model": str(per_run)})
    doc = nlp(text)
    assert len(doc.ents) == len(words)  # every word its own B-PER entity, the last one too
    assert doc.ents[-1].text == "Lisbon" and doc.ents[-1].end_char == len(text)
    expected = Predictor.load(per_run).predict([text])[0]
    assert [(e.start_char, e.end_char) for e in doc.ents] == [(e.start, e.end) for e in expected]


def test_to_disk_and_spacy_load_keep_a_copy_of_the_model(random_run: Path, tmp_path: Path) -> None:
    model = tmp_path / "run"
    shutil.copytree(random_run, model)
    nlp = spacy.blank("en")
    nlp.add_pipe("bertner", config={"model": str(model), "alignment_mode": "contract"})
    before = [(e.start_char, e.end_char, e.label_, e._.bertner_score) for e in nlp(TEXTS[0]).ents]
    assert before
    nlp.to_disk(tmp_path / "pipeline")
    shutil.rmtree(model)  # the saved pipeline must not need the original folder
    stored = tmp_path / "pipeline" / "bertner" / MODEL_DIR
    assert (stored / "labels.json").is_file()
    assert not (stored / "checkpoints").exists() and not (stored / "eval").exists()
    loaded = spacy.load(tmp_path / "pipeline")
    component = loaded.get_pipe("bertner")
    assert isinstance(component, BertnerComponent) and component.alignment_mode == "contract"
    assert component.model == str(stored)
    assert [(e.start_char, e.end_char, e.label_, e._.bertner_score) for e in loaded(TEXTS[0]).ents] == before
    loaded.to_disk(tmp_path / "pipeline")  # saving a loaded pipeline over itself keeps its copy
    assert (stored / "labels.json").is_file()


def test_bad_settings_are_refused() -> None:
    nlp = spacy.blank("en")
    with pytest.raises(UserError, match="needs a model"):
        nlp.add_pipe("bertner")
    with pytest.raises(UserError, match="alignment_mode must be one of expand, contract, strict, not 'fuzzy'"):
        nlp.add_pipe("bertner", config={"model": "x", "alignment_mode": "fuzzy"})


def test_spacy_finds_the_factory_through_the_entry_point() -> None:
    # What spaCy looks up to resolve a pipe name it does not know yet (catalogue's spacy_factories group).
    (entry,) = [e for e in entry_points(group="spacy_factories") if e.name == "bertner"]
    assert entry.load() is make_bertner
