"""Entities from tag sequences, read the way conlleval reads them.

conlleval.pl (CoNLL-2000, revised for CoNLL-2003) does not check that a tag sequence is well formed: it
decides, between every two words, whether a chunk *ended* and whether one *started*, and it reads
invalid sequences such as ``O I-PER`` by those same two rules. Published CoNLL F1 numbers are computed
this way, so we reproduce the rules exactly instead of validating or repairing the input.

The rules below are those of conlleval.pl's ``endOfChunk`` and ``startOfChunk`` with the BIOES
extension (``S`` for a single-word entity, ``E`` always closing) that the Python ports of the script
added (e.g. spyysalo/conlleval.py) and that seqeval's default mode follows. On IOB1, IOB2, IOE1 and IOE2
input the extended rules give the same answer as the Perl script, whose ``E`` rules were written for
IOE: the two differ only on ``S`` tags and on ``B`` right after ``E``, ``[`` or ``]``, which none of
those schemes produces.

Deliberate limits: conlleval's ``.`` pseudo-tag (from a pre-CoNLL chunk format) is rejected as
malformed, as is a bare prefix such as ``B`` without a type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["Entity", "chunks", "parse_tag"]


@dataclass(frozen=True)
class Entity:
    """One entity of a sentence: words ``start`` to ``end`` (exclusive) of entity type ``type``."""

    start: int
    end: int
    type: str


OUTSIDE = "O"

# Prefixes conlleval gives a meaning to. '[' and ']' come from the bracketed chunk format of the
# 1990s; conlleval treats each as a one-word chunk ("corrected 1998-12-22" in the script).
_PREFIXES = frozenset({"B", "I", "E", "S", "[", "]"})

# --- endOfChunk: did an entity end between the previous word and this one? (types agreeing) ---
# A previous E, S, '[' or ']' always closes its entity: E is the last word of one, and S, '[' and ']'
# are one-word entities.
_ALWAYS_ENDS_AFTER = frozenset({"E", "S", "[", "]"})
# After B or I, the entity goes on through I and E, and ends before anything that opens a new one or O.
_ENDS_BETWEEN = frozenset({("B", "B"), ("B", "S"), ("B", "O"), ("I", "B"), ("I", "S"), ("I", "O")})

# --- startOfChunk: did an entity start at this word? (types agreeing) ---
# B and S always open an entity, and so do '[' and ']' (one-word chunks).
_ALWAYS_STARTS_AT = frozenset({"B", "S", "[", "]"})
# I or E opens an entity when nothing is open before it (after O), or when the previous entity was
# closed by E or S. This is why ``O I-PER`` and ``E-PER I-PER`` start an entity at the I.
_STARTS_BETWEEN = frozenset({("O", "I"), ("O", "E"), ("E", "I"), ("E", "E"), ("S", "I"), ("S", "E")})


def parse_tag(tag: str, position: int) -> tuple[str, str]:
    """Split a tag into ``(prefix, entity type)``; ``"O"`` gives ``("O", "")``.

    The split is at the first ``-``, as in conlleval since 2004, so a type may contain ``-``
    (``B-ORG-GOV`` has type ``ORG-GOV``).

    Raises:
        ValueError: if the tag is not ``O`` or ``P-TYPE`` with ``P`` in B, I, E, S, [, ] and a
            non-empty ``TYPE``; the message names the tag and its ``position`` in the sentence.
    """
    if tag == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, entity_type = tag.partition("-")
    if prefix not in _PREFIXES or not dash or not entity_type:
        raise ValueError(
            f"word {position}: malformed tag {tag!r}; expected 'O' or PREFIX-TYPE "
            f"with PREFIX one of {sorted(_PREFIXES)} and a non-empty TYPE"
        )
    return prefix, entity_type


def ends_between(prev_prefix: str, prefix: str, prev_type: str, entity_type: str) -> bool:
    """Whether conlleval's ``endOfChunk`` says an entity ended just before the current word.

    Arguments are the previous and current word's prefix and entity type (``"O"`` and ``""`` for an
    outside word, and for the virtual outside words around the sentence).
    """
    if prev_prefix == OUTSIDE:
        return False
    if prev_type != entity_type:
        # A change of type always closes the open entity, whatever the prefixes say.
        return True
    return prev_prefix in _ALWAYS_ENDS_AFTER or (prev_prefix, prefix) in _ENDS_BETWEEN


def starts_at(prev_prefix: str, prefix: str, prev_type: str, entity_type: str) -> bool:
    """Whether conlleval's ``startOfChunk`` says an entity starts at the current word.

    Arguments are as for :func:`ends_between`.
    """
    if prefix == OUTSIDE:
        return False
    if prev_type != entity_type:
        # A change of type always opens a new entity: ``B-PER I-LOC`` is two entities.
        return True
    return prefix in _ALWAYS_STARTS_AT or (prev_prefix, prefix) in _STARTS_BETWEEN


def chunks(tags: Sequence[str]) -> list[Entity]:
    """The entities of one sentence's tags, by conlleval's rules, in order of their start.

    Invalid sequences are read, not rejected, exactly as conlleval reads them: ``O I-PER`` is a PER
    entity, ``B-PER I-LOC`` is two entities, and IOB1 (``I-PER I-PER B-PER``: two entities), IOB2,
    IOE and BIOES all work with no scheme argument. A word whose tag neither starts nor continues an
    entity (the ``I-NP`` of ``[-NP I-NP``) belongs to no entity, as in conlleval.

    Args:
        tags: one tag per word, e.g. ``["B-PER", "I-PER", "O"]``.

    Raises:
        ValueError: for a malformed tag, naming the tag and its word position.
    """
    entities: list[Entity] = []
    prev_prefix, prev_type = OUTSIDE, ""
    open_start: int | None = None
    open_type = ""
    # One virtual O past the end closes an entity that runs to the last word, as the blank line
    # between sentences does in conlleval's input.
    for position, tag in enumerate([*tags, OUTSIDE]):
        prefix, entity_type = parse_tag(tag, position)
        start_here = starts_at(prev_prefix, prefix, prev_type, entity_type)
        if open_start is not None and (ends_between(prev_prefix, prefix, prev_type, entity_type) or start_here):
            # A start also closes the open entity. The rules only disagree for '[' or ']' right after
            # B or I of the same type, where conlleval.pl opens a chunk without closing the previous
            # one, so it can never count that one correct; we close it so that identical gold and
            # predicted tags always score 1.0.
            entities.append(Entity(open_start, position, open_type))
            open_start = None
        if start_here:
            open_start, open_type = position, entity_type
        prev_prefix, prev_type = prefix, entity_type
    return entities
