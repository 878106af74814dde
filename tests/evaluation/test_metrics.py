"""score(): a hand-computed example, edge cases, errors, and a cross-check against seqeval."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import accuracy_score, classification_report, f1_score, precision_score, recall_score

from bertner.evaluation.metrics import Scores, TypeScores, score


def test_hand_computed_example() -> None:
    gold = [
        ["B-PER", "I-PER", "O", "B-LOC"],
        ["O", "B-ORG", "I-ORG", "O"],
        ["B-PER", "O"],
    ]
    predicted = [
        ["B-PER", "I-PER", "O", "O"],  # PER right, LOC missed
        ["O", "B-ORG", "O", "B-LOC"],  # ORG with a wrong end, a spurious LOC
        ["I-PER", "B-MISC"],  # I-PER still gives the right entity; a spurious MISC
    ]
    # Entities: gold PER(0,2) LOC(3,4) | ORG(1,3) | PER(0,1)            -> 4
    #           predicted PER(0,2) | ORG(1,2) LOC(3,4) | PER(0,1) MISC(1,2) -> 5
    #           correct PER(0,2), PER(0,1)                              -> 2
    # Words right: 3 of 4, 2 of 4, 0 of 2 (I-PER is not B-PER)         -> 5 / 10
    result = score(gold, predicted)
    assert result.overall == TypeScores(
        precision=0.4, recall=0.5, f1=pytest.approx(4 / 9), gold=4, predicted=5, correct=2
    )
    assert result.per_type == {
        "LOC": TypeScores(0.0, 0.0, 0.0, gold=1, predicted=1, correct=0),
        "MISC": TypeScores(0.0, 0.0, 0.0, gold=0, predicted=1, correct=0),
        "ORG": TypeScores(0.0, 0.0, 0.0, gold=1, predicted=1, correct=0),
        "PER": TypeScores(1.0, 1.0, 1.0, gold=2, predicted=2, correct=2),
    }
    assert result.accuracy == 0.5
    assert result.words == 10
    assert result.macro_f1 == 0.25


def test_to_dict_layout() -> None:
    result = score([["B-PER", "O"]], [["B-PER", "B-LOC"]])
    assert result.to_dict() == {
        "overall": {
            "precision": 0.5,
            "recall": 1.0,
            "f1": pytest.approx(2 / 3),
            "accuracy": 0.5,
            "macro_f1": 0.5,
            "gold": 1,
            "predicted": 2,
            "correct": 1,
            "words": 2,
        },
        "per_type": {
            "LOC": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "gold": 0, "predicted": 1, "correct": 0},
            "PER": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "gold": 1, "predicted": 1, "correct": 1},
        },
    }


def test_right_type_wrong_boundary_is_a_false_positive_and_a_false_negative() -> None:
    result = score([["B-LOC", "I-LOC", "O"]], [["B-LOC", "O", "O"]])
    assert result.overall == TypeScores(0.0, 0.0, 0.0, gold=1, predicted=1, correct=0)


def test_type_change_inside_i_tags_is_two_entities() -> None:
    # Gold PER(0,1) LOC(1,3); a scorer that ignored the type change would find no match at all.
    result = score([["B-PER", "B-LOC", "I-LOC"]], [["B-PER", "I-LOC", "I-LOC"]])
    assert result.overall == TypeScores(1.0, 1.0, 1.0, gold=2, predicted=2, correct=2)
    assert result.accuracy == pytest.approx(2 / 3)


def test_entities_do_not_cross_sentences() -> None:
    # Joined into one sequence this would be a single PER(0,2); per sentence it is two.
    result = score([["B-PER"], ["I-PER"]], [["B-PER"], ["B-PER"]])
    assert result.overall.gold == 2
    assert result.overall.correct == 2


def test_all_o_scores_zero_entities_but_full_accuracy() -> None:
    result = score([["O", "O"], []], [["O", "O"], []])
    assert result == Scores(TypeScores(0.0, 0.0, 0.0, 0, 0, 0), per_type={}, accuracy=1.0, words=2, macro_f1=0.0)


def test_no_sentences() -> None:
    assert score([], []) == Scores(TypeScores(0.0, 0.0, 0.0, 0, 0, 0), per_type={}, accuracy=0.0, words=0, macro_f1=0.0)


def test_different_number_of_sentences() -> None:
    with pytest.raises(ValueError, match="gold has 2 sentences but predicted has 1"):
        score([["O"], ["O"]], [["O"]])


def test_different_sentence_length_names_the_sentence() -> None:
    with pytest.raises(ValueError, match="sentence 1: gold has 2 tags but predicted has 1"):
        score([["O"], ["O", "B-PER"]], [["O"], ["O"]])


def test_flat_tag_list_is_rejected() -> None:
    with pytest.raises(ValueError, match="sentence 0: expected a sequence of tags, got a string"):
        score(["B-PER"], ["B-PER"])


def test_malformed_tag_names_sentence_and_word() -> None:
    with pytest.raises(ValueError, match=r"sentence 1: word 2: malformed tag 'X-PER'"):
        score([["O"], ["O", "O", "O"]], [["O"], ["O", "B-PER", "X-PER"]])


IOB_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# seqeval's default mode also has the BIOES rules of the conlleval ports, so check those too.
BIOES_TAGS = [*IOB_TAGS, "E-PER", "S-PER", "E-LOC", "S-MISC"]


@st.composite
def gold_and_predicted(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    """Random sentences of tags, illegal I after O included, with predictions of the same shape."""
    tags = st.sampled_from(draw(st.sampled_from([IOB_TAGS, BIOES_TAGS])))
    lengths = draw(st.lists(st.integers(0, 10), min_size=1, max_size=5))
    gold = [draw(st.lists(tags, min_size=n, max_size=n)) for n in lengths]
    predicted = [draw(st.lists(tags, min_size=n, max_size=n)) for n in lengths]
    return gold, predicted


@pytest.mark.filterwarnings("ignore")  # seqeval warns on undefined precision/recall, then uses 0.0 as we do
@settings(max_examples=200, deadline=None)
@given(gold_and_predicted())
def test_agrees_with_seqeval_default_mode(data: tuple[list[list[str]], list[list[str]]]) -> None:
    gold, predicted = data
    result = score(gold, predicted)

    assert result.overall.precision == pytest.approx(precision_score(gold, predicted))
    assert result.overall.recall == pytest.approx(recall_score(gold, predicted))
    assert result.overall.f1 == pytest.approx(f1_score(gold, predicted))
    assert result.accuracy == pytest.approx(accuracy_score(gold, predicted) if result.words else 0.0)
    if not result.per_type:
        return  # seqeval's report has nothing to compare when neither side has an entity
    report = classification_report(gold, predicted, output_dict=True)
    seqeval_types = {name: row for name, row in report.items() if not name.endswith(" avg")}
    assert sorted(seqeval_types) == list(result.per_type)
    for name, ours in result.per_type.items():
        theirs = seqeval_types[name]
        assert ours.precision == pytest.approx(theirs["precision"])
        assert ours.recall == pytest.approx(theirs["recall"])
        assert ours.f1 == pytest.approx(theirs["f1-score"])
        assert ours.gold == theirs["support"]
    assert result.macro_f1 == pytest.approx(report["macro avg"]["f1-score"])
