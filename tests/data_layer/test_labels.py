"""Tag schemes: detection, conversion to IOB2 and legality against hand-written sequences, and a
property that one set of entity spans written in IOB1, IOB2 and BIOES converts to the same IOB2 tags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.labels import LabelSet, Scheme, detect_scheme, first_illegal, split_tag, to_iob2

# Each "file" is a list of sentences; detection looks at the whole file, not one sentence.
IOB1_FILE = [
    ["I-PER", "I-PER", "O", "I-LOC"],
    ["O", "I-ORG", "B-ORG", "O"],  # B- only between two adjacent ORG entities
]
IOB2_FILE = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"], ["B-ORG", "B-ORG"]]
BIOES_FILE = [["B-PER", "E-PER", "O"], ["S-LOC", "O", "B-ORG", "I-ORG", "E-ORG"]]
ALL_O_FILE = [["O", "O"], ["O"]]


@pytest.mark.parametrize(
    ("sentences", "scheme"),
    [
        (IOB1_FILE, Scheme.IOB1),
        (IOB2_FILE, Scheme.IOB2),
        (BIOES_FILE, Scheme.BIOES),
        (ALL_O_FILE, Scheme.IOB2),
        # An entity opened with B- anywhere makes the file IOB2, so an I- opener elsewhere is an error, not IOB1.
        ([["I-PER", "O"], ["B-LOC", "O"]], Scheme.IOB2),
        # A single S- tag is enough for BIOES.
        ([["O", "O"], ["O", "S-PER"]], Scheme.BIOES),
        ([], Scheme.IOB2),
    ],
    ids=["IOB1", "IOB2", "BIOES", "all O", "mixed openers", "one S-", "empty"],
)
def test_detect_scheme(sentences: list[list[str]], scheme: Scheme) -> None:
    assert detect_scheme(sentences) is scheme


@pytest.mark.parametrize(
    ("tags", "scheme", "expected"),
    [
        (
            ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "O"],
            Scheme.IOB1,
            ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "O"],
        ),
        (["I-MISC"], Scheme.IOB1, ["B-MISC"]),
        (["O", "I-LOC", "I-LOC", "B-LOC", "I-LOC"], Scheme.IOB1, ["O", "B-LOC", "I-LOC", "B-LOC", "I-LOC"]),
        (
            ["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "B-ORG", "E-ORG", "S-ORG"],
            Scheme.BIOES,
            ["B-PER", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG", "I-ORG", "B-ORG"],
        ),
        (["S-PER", "S-PER"], Scheme.BIOES, ["B-PER", "B-PER"]),
        (["B-PER", "I-PER", "O", "B-PER", "B-PER"], Scheme.IOB2, ["B-PER", "I-PER", "O", "B-PER", "B-PER"]),
        ([], Scheme.IOB2, []),
    ],
)
def test_to_iob2(tags: list[str], scheme: Scheme, expected: list[str]) -> None:
    assert to_iob2(tags, scheme) == expected


@pytest.mark.parametrize(
    ("tags", "scheme", "index"),
    [
        # IOB2: I-X continues B-X or I-X only.
        (["B-PER", "I-PER", "O", "B-LOC"], Scheme.IOB2, None),
        (["O", "I-PER"], Scheme.IOB2, 1),
        (["I-PER", "O"], Scheme.IOB2, 0),
        (["B-PER", "I-LOC"], Scheme.IOB2, 1),
        (["B-PER", "I-PER", "I-LOC"], Scheme.IOB2, 2),
        (["B-PER", "E-PER"], Scheme.IOB2, 1),
        # IOB1: I- opens; B-X only directly after an X entity.
        (["I-PER", "B-PER", "O", "I-LOC"], Scheme.IOB1, None),
        (["O", "B-PER"], Scheme.IOB1, 1),
        (["B-PER"], Scheme.IOB1, 0),
        (["I-PER", "B-LOC"], Scheme.IOB1, 1),
        # BIOES: an open entity must be closed by E- of its type before O, B- or S-.
        (["B-PER", "I-PER", "E-PER", "O", "S-LOC", "S-LOC"], Scheme.BIOES, None),
        (["B-PER", "O"], Scheme.BIOES, 1),
        (["B-PER", "S-LOC"], Scheme.BIOES, 1),
        (["B-PER", "B-PER", "E-PER"], Scheme.BIOES, 1),
        (["B-PER", "E-LOC"], Scheme.BIOES, 1),
        (["O", "I-PER", "E-PER"], Scheme.BIOES, 1),
        (["E-PER"], Scheme.BIOES, 0),
        (["S-PER", "E-PER"], Scheme.BIOES, 1),
        # Unclosed at the sentence end: the last tag is reported.
        (["O", "B-PER"], Scheme.BIOES, 1),
        (["B-PER", "I-PER"], Scheme.BIOES, 1),
        (["S-PER", "B-LOC", "I-LOC", "I-LOC"], Scheme.BIOES, 3),
        ([], Scheme.BIOES, None),
    ],
)
def test_first_illegal(tags: list[str], scheme: Scheme, index: int | None) -> None:
    assert first_illegal(tags, scheme) == index


@pytest.mark.parametrize("tag", ["X-PER", "B-", "B", "PER", "", "o", "B_PER"])
def test_split_tag_rejects_malformed_tags(tag: str) -> None:
    with pytest.raises(ValueError, match="not a valid tag"):
        split_tag(tag)


def test_split_tag_keeps_hyphens_in_the_type() -> None:
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-WORK-OF-ART") == ("I", "WORK-OF-ART")
    assert split_tag("O") == ("O", "")


def test_label_set_order_and_inside_of() -> None:
    labels = LabelSet.from_tags(["O", "B-PER", "I-LOC", "B-MISC", "I-PER", "B-PER"])
    assert labels.labels == ("O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-PER", "I-PER")
    assert labels.types == ("LOC", "MISC", "PER")
    assert len(labels) == 7
    assert labels.label2id == {label: index for index, label in enumerate(labels.labels)}
    assert labels.id2label == dict(enumerate(labels.labels))
    # B-X -> I-X; O and I-X stay themselves.
    assert labels.inside_of() == [0, 2, 2, 4, 4, 6, 6]


def test_label_set_without_entities_is_only_outside() -> None:
    labels = LabelSet.from_tags(["O", "O"])
    assert labels.labels == ("O",)
    assert labels.inside_of() == [0]


# A sentence as a run of pieces: an O word, or an entity of a type and a length.
_PIECES = st.lists(
    st.one_of(st.just(("O", 1)), st.tuples(st.sampled_from(["PER", "LOC", "ORG"]), st.integers(1, 4))),
    max_size=12,
)


def _encode(pieces: list[tuple[str, int]]) -> tuple[list[str], list[str], list[str]]:
    """The same spans written in IOB2, IOB1 and BIOES, each built from its scheme's definition."""
    iob2: list[str] = []
    iob1: list[str] = []
    bioes: list[str] = []
    previous_type = None  # type of the entity that ends right before this piece, if any
    for entity_type, length in pieces:
        if entity_type == "O":
            iob2.append("O")
            iob1.append("O")
            bioes.append("O")
            previous_type = None
            continue
        iob2 += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (length - 1)
        first = "B" if previous_type == entity_type else "I"
        iob1 += [f"{first}-{entity_type}"] + [f"I-{entity_type}"] * (length - 1)
        if length == 1:
            bioes.append(f"S-{entity_type}")
        else:
            bioes += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (length - 2) + [f"E-{entity_type}"]
        previous_type = entity_type
    return iob2, iob1, bioes


@settings(deadline=None)  # the machine may be busy; speed is not what is tested
@given(_PIECES)
def test_every_scheme_converts_to_the_same_iob2(pieces: list[tuple[str, int]]) -> None:
    iob2, iob1, bioes = _encode(pieces)
    for tags, scheme in ((iob2, Scheme.IOB2), (iob1, Scheme.IOB1), (bioes, Scheme.BIOES)):
        assert first_illegal(tags, scheme) is None
        assert to_iob2(tags, scheme) == iob2
    if any(entity_type != "O" for entity_type, _ in pieces):
        assert detect_scheme([iob2]) is Scheme.IOB2
        assert detect_scheme([iob1]) is Scheme.IOB1
        assert detect_scheme([bioes]) is Scheme.BIOES
