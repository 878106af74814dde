"""Entity extraction: hand-written conlleval oracles, malformed tags, and encode/decode properties."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.evaluation.spans import Entity, chunks, ends_between, parse_tag, starts_at

# Each case: tags, and the entities conlleval reads from them, worked out by hand from its rules.
ORACLE_CASES = {
    "empty sentence": ([], []),
    "all O": (["O", "O", "O"], []),
    "IOB2": (["B-PER", "I-PER", "O", "B-LOC"], [Entity(0, 2, "PER"), Entity(3, 4, "LOC")]),
    "entity at sentence end": (["O", "B-PER", "I-PER"], [Entity(1, 3, "PER")]),
    "one-word sentence": (["B-MISC"], [Entity(0, 1, "MISC")]),
    # A naive scorer that only opens entities at B drops these.
    "I after O starts an entity": (["O", "I-PER", "I-PER", "O"], [Entity(1, 3, "PER")]),
    "I as the first word": (["I-LOC", "O"], [Entity(0, 1, "LOC")]),
    # A naive scorer that extends a span over I regardless of type gives one PER entity of length 3.
    "type change inside I tags": (
        ["B-PER", "I-LOC", "I-LOC"],
        [Entity(0, 1, "PER"), Entity(1, 3, "LOC")],
    ),
    "type change between I tags": (
        ["I-PER", "I-PER", "I-ORG"],
        [Entity(0, 2, "PER"), Entity(2, 3, "ORG")],
    ),
    "B of the same type splits": (["B-PER", "B-PER"], [Entity(0, 1, "PER"), Entity(1, 2, "PER")]),
    # IOB1: B only between two adjacent phrases of the same type.
    "IOB1 adjacent phrases": (["I-PER", "I-PER", "B-PER"], [Entity(0, 2, "PER"), Entity(2, 3, "PER")]),
    "IOB1 sentence": (
        ["O", "I-ORG", "O", "I-MISC", "I-MISC", "B-MISC", "O"],
        [Entity(1, 2, "ORG"), Entity(3, 5, "MISC"), Entity(5, 6, "MISC")],
    ),
    "BIOES": (
        ["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "S-ORG", "S-ORG"],
        [Entity(0, 1, "PER"), Entity(1, 4, "LOC"), Entity(5, 6, "ORG"), Entity(6, 7, "ORG")],
    ),
    "BIOES E then I starts again": (["E-PER", "I-PER"], [Entity(0, 1, "PER"), Entity(1, 2, "PER")]),
    "BIOES E closes": (["B-PER", "E-PER", "E-PER"], [Entity(0, 2, "PER"), Entity(2, 3, "PER")]),
    "BIOES S then E": (["S-PER", "E-PER"], [Entity(0, 1, "PER"), Entity(1, 2, "PER")]),
    "BIOES B without E runs on": (["B-LOC", "I-LOC", "O"], [Entity(0, 2, "LOC")]),
    "IOE": (["I-NP", "E-NP", "E-NP", "O"], [Entity(0, 2, "NP"), Entity(2, 3, "NP")]),
    "type containing a hyphen": (
        ["B-ORG-GOV", "I-ORG-GOV", "I-ORG"],
        [Entity(0, 2, "ORG-GOV"), Entity(2, 3, "ORG")],
    ),
    # '[' and ']' are one-word chunks; the I after them belongs to no entity.
    "brackets are one word": (["[-NP", "]-NP", "O"], [Entity(0, 1, "NP"), Entity(1, 2, "NP")]),
    "I after a bracket is in no entity": (["[-NP", "I-NP", "I-NP"], [Entity(0, 1, "NP")]),
    # conlleval.pl never closes the B here; we close it where the bracket opens (see chunks()).
    "bracket after B": (["B-NP", "[-NP"], [Entity(0, 1, "NP"), Entity(1, 2, "NP")]),
}


@pytest.mark.parametrize(("tags", "expected"), ORACLE_CASES.values(), ids=ORACLE_CASES.keys())
def test_chunks_match_hand_written_conlleval_oracle(tags: list[str], expected: list[Entity]) -> None:
    assert chunks(tags) == expected


@pytest.mark.parametrize("bad", ["X-PER", "B-", "", "B", "-PER", "O-PER", ".", "b-PER", "BPER"])
def test_malformed_tag_is_named_with_its_position(bad: str) -> None:
    with pytest.raises(ValueError, match=rf"word 1: malformed tag {bad!r}"):
        chunks(["O", bad, "O"])


def test_parse_tag_splits_on_the_first_hyphen() -> None:
    assert parse_tag("B-ORG-GOV", 0) == ("B", "ORG-GOV")
    assert parse_tag("O", 0) == ("O", "")
    assert parse_tag("]-NP", 0) == ("]", "NP")


def test_a_start_inside_an_entity_also_ends_it_except_for_brackets() -> None:
    """chunks() closes an open entity when a new one starts; check where that goes beyond endOfChunk.

    Only a bracket after B or I of the same type starts an entity without conlleval's endOfChunk
    firing, which is the one documented deviation.
    """
    unended_starts = {
        (prev, cur)
        for prev, cur in itertools.product("BIES[]", "BIESO[]")
        if starts_at(prev, cur, "X", "X") and not ends_between(prev, cur, "X", "X")
    }
    assert unended_starts == {("B", "["), ("B", "]"), ("I", "["), ("I", "]")}


TYPES = ["PER", "LOC", "ORG"]


@st.composite
def entity_layouts(draw: st.DrawFn) -> tuple[int, list[Entity]]:
    """A sentence length and non-overlapping entities in it, in order."""
    length = draw(st.integers(0, 12))
    cuts = sorted(draw(st.sets(st.integers(0, length), max_size=8)))
    entities = []
    for start, end in itertools.pairwise(cuts):
        if draw(st.booleans()):
            entities.append(Entity(start, end, draw(st.sampled_from(TYPES))))
    return length, entities


def _prefixes(size: int, touches_same_type: bool, scheme: str) -> list[str]:
    """The prefixes of one entity's words in a scheme, written from the scheme's definition."""
    if scheme == "IOB2":
        return ["B"] + ["I"] * (size - 1)
    if scheme == "IOB1":
        # B only on the first word of an entity that directly follows one of the same type.
        return ["B" if touches_same_type else "I"] + ["I"] * (size - 1)
    return ["S"] if size == 1 else ["B"] + ["I"] * (size - 2) + ["E"]


def _encode(length: int, entities: list[Entity], scheme: str) -> list[str]:
    """Tags for entities in IOB1, IOB2 or BIOES, written independently of chunks()."""
    tags = ["O"] * length
    previous: Entity | None = None
    for entity in entities:
        touches = previous is not None and previous.end == entity.start and previous.type == entity.type
        prefixes = _prefixes(entity.end - entity.start, touches, scheme)
        tags[entity.start : entity.end] = [f"{prefix}-{entity.type}" for prefix in prefixes]
        previous = entity
    return tags


@settings(max_examples=200, deadline=None)
@given(entity_layouts(), st.sampled_from(["IOB1", "IOB2", "BIOES"]))
def test_chunks_recover_entities_from_every_scheme(layout: tuple[int, list[Entity]], scheme: str) -> None:
    length, entities = layout
    assert chunks(_encode(length, entities, scheme)) == entities


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["O", "B-PER", "I-PER", "E-PER", "S-PER", "I-LOC", "B-LOC"]), max_size=15))
def test_entities_are_ordered_disjoint_and_inside_the_sentence(tags: list[str]) -> None:
    entities = chunks(tags)
    for entity in entities:
        assert 0 <= entity.start < entity.end <= len(tags)
        # conlleval takes the type from the first word, and every word of an entity shares it.
        assert all(tags[i].partition("-")[2] == entity.type for i in range(entity.start, entity.end))
    for before, after in itertools.pairwise(entities):
        assert before.end <= after.start
