"""The answer to one text: exactly the Predictor's entities at or above `min_score`, field for field."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from hypothesis import given, settings
from hypothesis import strategies as st

from bertner.inference.predictor import TextEntity
from bertner.serving.app import _result

_ENTITY = st.builds(
    TextEntity,
    start=st.integers(0, 10_000),
    end=st.integers(0, 10_000),
    text=st.text(max_size=12),
    type=st.sampled_from(["PER", "LOC", "ORG", "MISC"]),
    score=st.floats(0.0, 1.0).map(lambda score: round(score, 4)),
)


@settings(max_examples=200, deadline=None)
@given(entities=st.lists(_ENTITY, max_size=8), min_score=st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0]))
def test_a_result_holds_the_entities_at_or_above_min_score_in_order(
    entities: list[TextEntity], min_score: float
) -> None:
    expected = [entity.to_dict() for entity in entities if entity.score >= min_score]  # the oracle: asdict
    result = _result(entities, min_score)
    assert result.model_dump()["entities"] == expected
    assert [type(value) for entity in result.model_dump()["entities"] for value in entity.values()] == [
        type(value) for entity in expected for value in entity.values()
    ]
