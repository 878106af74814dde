"""Active learning: the chosen texts are those of highest uncertainty by a hand computation, the budget holds,
near-duplicates are passed over, and tasks.json is what Label Studio imports."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bertner.data.annotations import labelstudio
from bertner.errors import UserError
from bertner.selection.dedup import choose
from bertner.selection.pool import Pool, PoolText, read_pool
from bertner.selection.select import select_texts
from bertner.selection.uncertainty import ranking, uncertainty
from bertner.selection.write import write_selection
from stub_tagging import TAGS, StubModel

# Each word's distribution over TAGS: capitalised words are unsure between B-PER and B-LOC, others are sure O.
SURE_O = np.array([0.96, 0.01, 0.01, 0.01, 0.01])
PER_OR_LOC = np.array([0.1, 0.4, 0.05, 0.4, 0.05])


def by_case(words: Sequence[str]) -> np.ndarray:
    return np.log(np.array([PER_OR_LOC if w[0].isupper() else SURE_O for w in words]))


def entropy(p: np.ndarray) -> float:
    return -sum(x * math.log(x) for x in p)


def test_the_scores_match_a_hand_computation() -> None:
    marginals = np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    assert uncertainty(marginals, "entropy") == pytest.approx(math.log(2) / 2)
    assert uncertainty(marginals, "margin") == pytest.approx(((1 - 0) + (1 - 1)) / 2)
    assert uncertainty(marginals, "least-confidence") == pytest.approx(1 - math.sqrt(0.5 * 1.0))
    assert uncertainty(marginals, "total-entropy") == pytest.approx(math.log(2))


def test_total_entropy_prefers_the_longer_of_two_texts_that_the_mean_finds_equally_uncertain() -> None:
    texts = ["Anna met", "Anna met Carl here"]  # half their words capitalised each: equal means
    pool = Pool(tuple(PoolText(text=t, source="p", line=i + 1) for i, t in enumerate(texts)))
    per_word = {True: entropy(PER_OR_LOC), False: entropy(SURE_O)}
    selection = select_texts(StubModel(by_case), pool, budget=1, strategy="total-entropy")
    hand = [sum(per_word[w[0].isupper()] for w in t.split()) for t in texts]
    assert hand[1] == pytest.approx(2 * hand[0])
    assert [item.text.text for item in selection.chosen] == [texts[1]]
    assert selection.chosen[0].score == pytest.approx(hand[1], abs=1e-5)


def test_the_most_uncertain_texts_are_chosen_within_the_budget_and_duplicates_dropped() -> None:
    texts = [
        "the cat sat on the mat",  # 0 capitalised of 6
        "Anna met Carl in Oslo",  # 3 of 5
        "Anna met Carl in Oslo today",  # 3 of 6
        "ANNA MET CARL IN ROME",  # 5 of 5, the most uncertain
        "anna met carl in oslo",  # 0 of 5
        "Paris is big",  # 1 of 3
        "Anna, met Carl in Oslo!",  # the same as 1 once normalised (but 7 words with its punctuation)
    ]
    pool = Pool(tuple(PoolText(text=t, source="pool.txt", line=i + 1) for i, t in enumerate(texts)))
    selection = select_texts(StubModel(by_case), pool, budget=3, strategy="entropy")
    # by hand: the mean entropy over words (each punctuation mark a word, sure O)
    counts = {0: (0, 6), 1: (3, 5), 2: (3, 6), 3: (5, 5), 4: (0, 5), 5: (1, 3), 6: (3, 7)}
    hand = {i: (u * entropy(PER_OR_LOC) + (n - u) * entropy(SURE_O)) / n for i, (u, n) in counts.items()}
    order = sorted(hand, key=lambda i: (-hand[i], i))
    assert order[:4] == [3, 1, 2, 6]
    # 3, 1, then 2: the budget is met before 6 (a near-duplicate of 1) is examined
    assert [item.text.line - 1 for item in selection.chosen] == [3, 1, 2]
    assert [item.score for item in selection.chosen] == pytest.approx([hand[3], hand[1], hand[2]])
    assert len(selection.chosen) == 3

    bigger = select_texts(StubModel(by_case), pool, budget=6, strategy="entropy")
    chosen = [item.text.line - 1 for item in bigger.chosen]
    assert 6 not in chosen and 4 not in chosen  # near-duplicates of 1 and 3
    dropped = {(d.line - 1, kept.line - 1) for d, kept in bigger.duplicates}
    assert dropped == {(6, 1), (4, 1)}
    assert chosen == [3, 1, 2, 5, 0]  # the pool ran out of distinct texts before the budget


def test_margin_and_least_confidence_rank_by_their_own_formula() -> None:
    texts = ["Anna met", "Anna Carl met the Oslo", "a b c"]
    pool = Pool(tuple(PoolText(text=t, source="p", line=i + 1) for i, t in enumerate(texts)))
    margin_gap = 1 - (0.4 - 0.4)
    sure_gap = 1 - (0.96 - 0.01)
    for strategy, word_score, combine in (
        ("margin", {True: margin_gap, False: sure_gap}, lambda xs: sum(xs) / len(xs)),
        ("least-confidence", {True: 0.4, False: 0.96}, lambda xs: 1 - math.prod(xs) ** (1 / len(xs))),
    ):
        selection = select_texts(StubModel(by_case), pool, budget=3, strategy=strategy)
        hand = [combine([word_score[w[0].isupper()] for w in t.split()]) for t in texts]
        # the stub's scores are float32 logits, as WordScores holds them
        assert [item.score for item in selection.chosen] == pytest.approx(sorted(hand, reverse=True), abs=1e-6)


def test_random_is_a_seeded_shuffle() -> None:
    assert ranking(None, 10, "random", seed=1) == ranking(None, 10, "random", seed=1)
    assert sorted(ranking(None, 10, "random", seed=1)) == list(range(10))
    assert ranking(None, 10, "random", seed=1) != ranking(None, 10, "random", seed=2)


def test_a_long_text_with_one_word_changed_is_a_near_duplicate() -> None:
    words = [f"word{i}" for i in range(40)]
    changed = [*words[:20], "other", *words[21:]]
    chosen = choose([0, 1, 2], [" ".join(words), " ".join(changed), "something else entirely here"], budget=3)
    assert chosen.kept == (0, 2) and chosen.duplicates == ((1, 0),)


def test_tasks_json_imports_as_label_studio_tasks(tmp_path: Path) -> None:
    texts = ["Anna met Carl in Oslo .", "the cat sat", "Paris and Berg"]
    pool = Pool(tuple(PoolText(text=t, id=f"t{i}", source="pool.jsonl", line=i + 1) for i, t in enumerate(texts)))
    selection = select_texts(StubModel(by_case), pool, budget=2, strategy="entropy")
    files = write_selection(selection, tmp_path)
    tasks = json.loads(files.tasks.read_text(encoding="utf-8"))
    assert isinstance(tasks, list) and len(tasks) == 2
    for task in tasks:
        text = task["data"]["text"]
        assert isinstance(text, str) and set(task) <= {"data", "predictions", "meta", "annotations"}
        (prediction,) = task["predictions"]
        assert isinstance(prediction["model_version"], str)
        assert prediction["result"], "every chosen text here has capitalised words, which the stub tags"
        for item in prediction["result"]:
            assert item["type"] == "labels" and item["from_name"] == "label" and item["to_name"] == "text"
            value = item["value"]
            assert text[value["start"] : value["end"]] == value["text"]
            assert value["labels"][0] in {t[2:] for t in TAGS if t != "O"}
            assert 0 <= item["score"] <= 1
        # the prediction, accepted as an annotation, reads back through the Label Studio reader
        accepted = {"id": 1, "data": task["data"], "annotations": [{"id": 1, "result": prediction["result"]}]}
        read = labelstudio.read_task(accepted, "tasks.json", 1, "ground_truth", {})
        assert [(s.start, s.end) for s in read.spans] == [
            (r["value"]["start"], r["value"]["end"]) for r in prediction["result"]
        ]
    assert [task["meta"]["rank"] for task in tasks] == [1, 2]
    assert [task["meta"]["id"] for task in tasks] == ["t2", "t0"]  # 2 of 3 words unsure, then 3 of 6
    lines = [json.loads(line) for line in files.selected.read_text(encoding="utf-8").splitlines()]
    assert [line["text"] for line in lines] == [task["data"]["text"] for task in tasks]


def test_the_pool_reads_text_jsonl_and_exports_leaving_out_labelled_tasks(tmp_path: Path) -> None:
    (tmp_path / "pool.txt").write_text("one text\n\nanother text\n", encoding="utf-8")
    pool = read_pool(tmp_path / "pool.txt")
    assert [(t.text, t.line) for t in pool.texts] == [("one text", 1), ("another text", 3)]
    assert pool.skipped == {"empty texts": 1}
    tasks = [
        {"id": 1, "data": {"text": "not yet labelled"}},
        {"id": 2, "data": {"text": "labelled"}, "annotations": [{"result": []}]},
        {"id": 3, "data": {"text": "skipped by its annotator"}, "annotations": [{"was_cancelled": True}]},
    ]
    (tmp_path / "export.json").write_text(json.dumps(tasks, indent=1), encoding="utf-8")
    pool = read_pool(tmp_path / "export.json")
    assert [(t.text, t.id) for t in pool.texts] == [("not yet labelled", 1), ("skipped by its annotator", 3)]
    assert pool.skipped == {"already labelled": 1}
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"txt": "no text"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"bad\.jsonl:2: no text"):
        read_pool(tmp_path / "bad.jsonl")
