"""Error taxonomy: hand-made oracles per category and for overlaps of several entities, and counts that add up."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.evaluation.errors import (
    ERROR_CATEGORIES,
    Category,
    Match,
    analyse_errors,
    error_examples,
    mark_entities,
    match_entities,
)
from bertner.evaluation.metrics import score
from bertner.evaluation.spans import Entity, chunks

C = Category


def E(start: int, end: int, entity_type: str) -> Entity:
    return Entity(start, end, entity_type)


# Each case: gold entities, predicted entities, and the matches worked out by hand from the rule in
# errors.py (exact first; then most shared words, same type first, earliest gold, earliest prediction).
ORACLE_CASES = {
    "correct": ([E(0, 2, "PER")], [E(0, 2, "PER")], [Match(C.CORRECT, E(0, 2, "PER"), E(0, 2, "PER"))]),
    "missed": ([E(3, 4, "LOC")], [], [Match(C.MISSED, E(3, 4, "LOC"), None)]),
    "spurious": ([], [E(1, 2, "MISC")], [Match(C.SPURIOUS, None, E(1, 2, "MISC"))]),
    "wrong type": ([E(0, 1, "LOC")], [E(0, 1, "ORG")], [Match(C.WRONG_TYPE, E(0, 1, "LOC"), E(0, 1, "ORG"))]),
    "wrong boundary, too short": (
        [E(1, 3, "ORG")],
        [E(1, 2, "ORG")],
        [Match(C.WRONG_BOUNDARY, E(1, 3, "ORG"), E(1, 2, "ORG"))],
    ),
    "wrong boundary, shifted": (
        [E(1, 3, "ORG")],
        [E(2, 4, "ORG")],
        [Match(C.WRONG_BOUNDARY, E(1, 3, "ORG"), E(2, 4, "ORG"))],
    ),
    "wrong type and boundary": (
        [E(0, 3, "ORG")],
        [E(1, 2, "LOC")],
        [Match(C.WRONG_TYPE_AND_BOUNDARY, E(0, 3, "ORG"), E(1, 2, "LOC"))],
    ),
    "adjacent, not overlapping: missed and spurious": (
        [E(0, 2, "PER")],
        [E(2, 3, "PER")],
        [Match(C.MISSED, E(0, 2, "PER"), None), Match(C.SPURIOUS, None, E(2, 3, "PER"))],
    ),
    # One prediction covers two gold entities: it pairs with the one it shares more words with.
    "merge of two gold entities": (
        [E(0, 2, "PER"), E(2, 3, "PER")],
        [E(0, 3, "PER")],
        [Match(C.WRONG_BOUNDARY, E(0, 2, "PER"), E(0, 3, "PER")), Match(C.MISSED, E(2, 3, "PER"), None)],
    ),
    # docs/scoring.md's example: [New York]LOC [City Hall]LOC merged into one prediction; equal overlaps.
    "documented merge, tie to the earlier gold entity": (
        [E(0, 2, "LOC"), E(2, 4, "LOC")],
        [E(0, 4, "LOC")],
        [Match(C.WRONG_BOUNDARY, E(0, 2, "LOC"), E(0, 4, "LOC")), Match(C.MISSED, E(2, 4, "LOC"), None)],
    ),
    # One gold entity split in two predictions: the larger overlap pairs, the other is spurious.
    "split of one gold entity": (
        [E(0, 4, "ORG")],
        [E(0, 1, "ORG"), E(1, 4, "ORG")],
        [Match(C.SPURIOUS, None, E(0, 1, "ORG")), Match(C.WRONG_BOUNDARY, E(0, 4, "ORG"), E(1, 4, "ORG"))],
    ),
    "equal overlaps: same type wins": (
        [E(0, 2, "LOC")],
        [E(0, 1, "ORG"), E(1, 2, "LOC")],
        [Match(C.SPURIOUS, None, E(0, 1, "ORG")), Match(C.WRONG_BOUNDARY, E(0, 2, "LOC"), E(1, 2, "LOC"))],
    ),
    "equal overlaps, both other types: earlier gold wins": (
        [E(0, 2, "PER"), E(2, 4, "LOC")],
        [E(1, 3, "ORG")],
        [
            Match(C.WRONG_TYPE_AND_BOUNDARY, E(0, 2, "PER"), E(1, 3, "ORG")),
            Match(C.MISSED, E(2, 4, "LOC"), None),
        ],
    ),
    "larger overlap beats same type": (
        [E(0, 3, "PER")],
        [E(0, 2, "ORG"), E(2, 3, "PER")],
        [Match(C.WRONG_TYPE_AND_BOUNDARY, E(0, 3, "PER"), E(0, 2, "ORG")), Match(C.SPURIOUS, None, E(2, 3, "PER"))],
    ),
    "chain of overlaps": (
        [E(0, 2, "LOC"), E(3, 6, "LOC")],
        [E(1, 4, "LOC"), E(5, 6, "LOC")],
        # (3,6)-(1,4) and (0,2)-(1,4) and (3,6)-(5,6) all share one word: earliest gold first.
        [
            Match(C.WRONG_BOUNDARY, E(0, 2, "LOC"), E(1, 4, "LOC")),
            Match(C.WRONG_BOUNDARY, E(3, 6, "LOC"), E(5, 6, "LOC")),
        ],
    ),
    "exact match beside an overlap": (
        [E(0, 1, "PER"), E(1, 3, "LOC")],
        [E(0, 1, "PER"), E(1, 2, "LOC"), E(2, 3, "ORG")],
        [
            Match(C.CORRECT, E(0, 1, "PER"), E(0, 1, "PER")),
            Match(C.WRONG_BOUNDARY, E(1, 3, "LOC"), E(1, 2, "LOC")),
            Match(C.SPURIOUS, None, E(2, 3, "ORG")),
        ],
    ),
}


@pytest.mark.parametrize("name", ORACLE_CASES)
def test_oracle_cases(name: str) -> None:
    gold, predicted, expected = ORACLE_CASES[name]
    assert list(match_entities(gold, predicted)) == expected


def test_tags_are_read_by_conlleval_rules() -> None:
    # I-PER after O starts an entity; B-ORG I-LOC is two entities.
    analysis = analyse_errors([["O", "B-PER", "I-PER", "B-ORG", "I-ORG"]], [["O", "I-PER", "I-PER", "B-ORG", "I-LOC"]])
    assert analysis.matches == (
        (
            Match(C.CORRECT, E(1, 3, "PER"), E(1, 3, "PER")),
            Match(C.WRONG_BOUNDARY, E(3, 5, "ORG"), E(3, 4, "ORG")),
            Match(C.SPURIOUS, None, E(4, 5, "LOC")),
        ),
    )


def test_counts_per_type_and_confusions() -> None:
    gold = [["B-LOC", "O", "B-PER"], ["B-LOC", "I-LOC", "O"], ["O", "O", "O"]]
    predicted = [["B-ORG", "O", "O"], ["B-ORG", "I-ORG", "O"], ["B-MISC", "O", "O"]]
    analysis = analyse_errors(gold, predicted)
    assert analysis.counts() == {
        "correct": 0,
        "missed": 1,
        "spurious": 1,
        "wrong_type": 2,
        "wrong_boundary": 0,
        "wrong_type_and_boundary": 0,
    }
    per_type = analysis.per_type()
    assert per_type["LOC"]["wrong_type"] == 2
    assert per_type["PER"]["missed"] == 1
    assert per_type["MISC"]["spurious"] == 1  # spurious errors count under the predicted type
    assert analysis.confusions() == {("LOC", "ORG"): 2, ("PER", "O"): 1, ("O", "MISC"): 1}


def test_shape_errors_name_the_sentence() -> None:
    with pytest.raises(ValueError, match="sentence 1"):
        analyse_errors([["O"], ["O", "O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match="sentence 0: .*'B-'"):
        analyse_errors([["B-"]], [["O"]])


def test_mark_entities() -> None:
    words = ["The", "Bank", "of", "England", "in", "Paris"]
    entities = [E(1, 4, "ORG"), E(5, 6, "LOC")]
    assert mark_entities(words, entities) == "The [Bank of England]ORG in [Paris]LOC"
    assert mark_entities(words, []) == "The Bank of England in Paris"


def _example_data() -> tuple[list[list[str]], list[list[str]], list[list[str]], list[int]]:
    # Document 0: sentences 0-2; document 1: sentences 3-5. LOC->ORG happens three times, PER->ORG once.
    gold = [["B-LOC"], ["B-PER"], ["B-LOC"], ["B-LOC"], ["O"], ["B-LOC"]]
    predicted = [["B-ORG"], ["B-ORG"], ["B-ORG"], ["B-ORG"], ["O"], ["B-LOC"]]
    words = [[f"w{i}"] for i in range(6)]
    return gold, predicted, words, [0, 0, 0, 1, 1, 1]


def test_examples_most_frequent_confusion_first_round_robin() -> None:
    gold, predicted, words, documents = _example_data()
    examples = error_examples(analyse_errors(gold, predicted), words, documents, per_category=3)
    wrong_type = examples["wrong_type"]
    # Round 1: LOC->ORG (3 errors) then PER->ORG (1); round 2: the next LOC->ORG.
    assert [(e.confusion, e.sentence) for e in wrong_type] == [
        (("LOC", "ORG"), 0),
        (("PER", "ORG"), 1),
        (("LOC", "ORG"), 2),
    ]
    assert examples["missed"] == () and examples["spurious"] == ()
    assert set(examples) == {c.value for c in ERROR_CATEGORIES}


def test_examples_carry_marked_entities_and_document_context() -> None:
    gold, predicted, words, documents = _example_data()
    examples = error_examples(analyse_errors(gold, predicted), words, documents, per_category=10, context=1)
    by_sentence = {e.sentence: e for e in examples["wrong_type"]}
    first_of_doc1 = by_sentence[3]
    assert (first_of_doc1.gold, first_of_doc1.predicted) == ("[w3]LOC", "[w3]ORG")
    assert (first_of_doc1.gold_text, first_of_doc1.predicted_text) == ("[w3]LOC", "[w3]ORG")
    # Sentence 2 is the previous sentence but of document 0: context never crosses a document.
    assert first_of_doc1.before == () and first_of_doc1.after == ("w4",)
    assert by_sentence[1].before == ("w0",) and by_sentence[1].after == ("w2",)
    assert len(examples["wrong_type"]) == 4


def test_examples_need_one_entry_per_sentence() -> None:
    gold, predicted, words, documents = _example_data()
    with pytest.raises(ValueError, match="6 sentences"):
        error_examples(analyse_errors(gold, predicted), words[:2], documents)
    with pytest.raises(ValueError, match="at least 0"):
        error_examples(analyse_errors(gold, predicted), words, documents, per_category=-1)


TAGS = ["O", "O", "B-A", "I-A", "B-B", "I-B", "E-A", "S-B"]
sentence = st.lists(st.sampled_from(TAGS), max_size=12)


@st.composite
def tag_pairs(draw: st.DrawFn) -> tuple[list[str], list[str]]:
    gold = draw(sentence)
    return gold, draw(st.lists(st.sampled_from(TAGS), min_size=len(gold), max_size=len(gold)))


def _overlap(a: Entity, b: Entity) -> bool:
    return max(a.start, b.start) < min(a.end, b.end)


@settings(max_examples=300, deadline=None)
@given(tag_pairs())
def test_every_entity_is_accounted_for_once(pair: tuple[list[str], list[str]]) -> None:
    gold_tags, predicted_tags = pair
    gold, predicted = chunks(gold_tags), chunks(predicted_tags)
    matches = match_entities(gold, predicted)
    assert sorted((m.gold for m in matches if m.gold), key=repr) == sorted(gold, key=repr)
    assert sorted((m.predicted for m in matches if m.predicted), key=repr) == sorted(predicted, key=repr)
    count = {c: sum(m.category is c for m in matches) for c in Category}
    wrong = count[C.WRONG_TYPE] + count[C.WRONG_BOUNDARY] + count[C.WRONG_TYPE_AND_BOUNDARY]
    exact = len(set(gold) & set(predicted))  # conlleval's correct entities
    assert count[C.CORRECT] == exact
    assert count[C.MISSED] + wrong == len(gold) - exact
    assert count[C.SPURIOUS] + wrong == len(predicted) - exact


@settings(max_examples=300, deadline=None)
@given(tag_pairs())
def test_categories_follow_their_definitions(pair: tuple[list[str], list[str]]) -> None:
    gold, predicted = chunks(pair[0]), chunks(pair[1])
    matches = match_entities(gold, predicted)
    paired_predicted = {m.predicted for m in matches if m.gold and m.predicted}
    paired_gold = {m.gold for m in matches if m.gold and m.predicted}
    for m in matches:
        g, p = m.gold, m.predicted
        if m.category is C.CORRECT:
            assert g == p
        elif m.category is C.WRONG_TYPE:
            assert g and p and (g.start, g.end) == (p.start, p.end) and g.type != p.type
        elif m.category is C.WRONG_BOUNDARY:
            assert g and p and _overlap(g, p) and (g.start, g.end) != (p.start, p.end) and g.type == p.type
        elif m.category is C.WRONG_TYPE_AND_BOUNDARY:
            assert g and p and _overlap(g, p) and (g.start, g.end) != (p.start, p.end) and g.type != p.type
        elif m.category is C.MISSED:
            # Overlaps no prediction, or only predictions paired with another gold entity.
            assert g and p is None and all(q in paired_predicted for q in predicted if _overlap(g, q))
        else:
            assert p and g is None and all(h in paired_gold for h in gold if _overlap(h, p))


@settings(max_examples=100, deadline=None)
@given(st.lists(tag_pairs(), max_size=5))
def test_taxonomy_adds_up_to_conlleval_false_negatives_and_positives(pairs: list[tuple[list[str], list[str]]]) -> None:
    gold = [g for g, _ in pairs]
    predicted = [p for _, p in pairs]
    counts = analyse_errors(gold, predicted).counts()
    overall = score(gold, predicted).overall
    wrong = counts["wrong_type"] + counts["wrong_boundary"] + counts["wrong_type_and_boundary"]
    assert counts["correct"] == overall.correct
    assert counts["missed"] + wrong == overall.gold - overall.correct
    assert counts["spurious"] + wrong == overall.predicted - overall.correct
