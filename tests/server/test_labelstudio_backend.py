"""The Label Studio ML backend (/labelstudio): answers checked against the protocol's JSON as Label Studio reads it.

The oracle for an answer's shape is written here from Label Studio's own code, independently of the app's models:
label_studio/ml/models.py (`_get_predictions_from_ml_backend`: `results` a list with one item per task, each with
`result`, optional `score` and `model_version`) and label_studio_sdk's LabelsTag/LabelsValue (`start`, `end`,
`labels` drawn from the control's labels; `from_name`/`to_name` naming the config's control and object).
The entities are the Predictor's own, so every answer is also compared with `Predictor.predict`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

pytest.importorskip("fastapi", reason="the server needs the serve extra: pip install 'bertner[serve]'")

from serving import serving

from bertner.errors import UserError
from bertner.evaluation.predictions import TypeMap
from bertner.inference.predictor import Predictor
from bertner.serving.app import create_app
from bertner.serving.labelstudio_config import choose_target, label_targets
from bertner.serving.settings import ServeSettings

NER_CONFIG = """<View>
  <Labels name="label" toName="text">
    <Label value="PER" background="red"/><Label value="ORG"/><Label value="LOC"/>
  </Labels>
  <Text name="text" value="$text"/>
</View>"""


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: StrictInt = Field(ge=0)
    end: StrictInt = Field(ge=0)
    text: StrictStr
    labels: list[StrictStr] = Field(min_length=1, max_length=1)


class _Item(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr
    from_name: StrictStr
    to_name: StrictStr
    type: Literal["labels"]
    value: _Value
    score: StrictFloat | None = None


class _Prediction(BaseModel):
    model_config = ConfigDict(extra="forbid")
    result: list[_Item]
    score: StrictFloat | None = None
    model_version: StrictStr


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    results: list[_Prediction]
    model_version: StrictStr


def _check_answer(
    answer: dict[str, Any], texts: list[str], labels: set[str], from_name: str = "label", to_name: str = "text"
) -> _Answer:
    """The protocol's shape, and what Label Studio then relies on: one prediction per task, names and labels of
    the config, offsets that slice the task's text in code points, the prediction's score the lowest entity's."""
    parsed = _Answer.model_validate(answer)
    assert len(parsed.results) == len(texts)
    for text, found in zip(texts, parsed.results, strict=True):
        assert found.model_version == parsed.model_version
        assert len({item.id for item in found.result}) == len(found.result)
        for item in found.result:
            assert (item.from_name, item.to_name) == (from_name, to_name)
            assert set(item.value.labels) <= labels
            assert 0 <= item.value.start < item.value.end <= len(text)
            assert text[item.value.start : item.value.end] == item.value.text
        scores = [item.score for item in found.result]
        assert found.score == (min(scores) if scores else None)  # type: ignore[type-var]
    return parsed


def _tasks(texts: list[str], key: str = "text") -> list[dict[str, Any]]:
    # As Label Studio sends them: full task objects (TaskSimpleSerializer), not only the data.
    return [
        {"id": 100 + i, "data": {key: text}, "meta": {}, "annotations": [], "predictions": [], "project": 1}
        for i, text in enumerate(texts)
    ]


def _call(app: Any, *requests: tuple[str, str, Any]) -> list[httpx.Response]:
    async def send() -> list[httpx.Response]:
        async with serving(app) as client:
            answers = []
            for method, path, body in requests:
                if method == "GET":
                    answers.append(await client.get(path))
                elif isinstance(body, bytes):
                    answers.append(await client.post(path, content=body))
                else:
                    answers.append(await client.post(path, json=body))
            return answers

    return asyncio.run(send())


def _predict_body(texts: list[str], config: str = NER_CONFIG, key: str = "text") -> dict[str, Any]:
    params = {"login": None, "password": None, "context": None}
    return {"tasks": _tasks(texts, key), "project": "1.1764979200", "label_config": config, "params": params}


TEXTS = [
    "Maria Okafor flew to Lisbon for Quill Systems .",
    "",
    "🙂 Maria Okafor met 𠀀𠀁 Danish Lisbon people",
    "nothing here",
    "Lisbon\r\n\r\nQuill Systems 👩‍👩‍👧 Maria",
]


def test_predict_answers_one_prediction_per_task_in_order(keyword_predictor: Predictor) -> None:
    app = create_app(keyword_predictor)
    (response, stats) = _call(
        app, ("POST", "/labelstudio/predict", _predict_body(TEXTS)), ("GET", "/labelstudio/stats", None)
    )
    assert response.status_code == 200, response.text
    parsed = _check_answer(response.json(), TEXTS, {"PER", "ORG", "LOC"})
    expected = [
        [(e.start, e.end, e.type, e.score) for e in found if e.type != "MISC"]
        for found in keyword_predictor.predict(TEXTS)
    ]
    got = [[(i.value.start, i.value.end, i.value.labels[0], i.score) for i in p.result] for p in parsed.results]
    assert got == expected
    assert [len(found) for found in got] == [3, 0, 2, 0, 3]
    # MISC ("Danish") has no label in the project: left out and counted.
    assert stats.json() == {"requests": 1, "tasks": 5, "entities": 8, "left_out": {"MISC": 1}}


def test_offsets_are_code_points_not_utf16(keyword_predictor: Predictor) -> None:
    text = TEXTS[2]
    (response,) = _call(create_app(keyword_predictor), ("POST", "/labelstudio/predict", _predict_body([text])))
    items = response.json()["results"][0]["result"]
    lisbon = next(item for item in items if item["value"]["text"] == "Lisbon")
    assert lisbon["value"]["start"] == text.index("Lisbon")
    # In UTF-16 (JavaScript's length) the three astral characters before it count twice: a different offset.
    assert len(text[: text.index("Lisbon")].encode("utf-16-le")) // 2 == lisbon["value"]["start"] + 3


def test_names_and_the_text_field_come_from_the_config(keyword_predictor: Predictor) -> None:
    config = """<View><Header value="Read it"/>
      <Choices name="topic" toName="doc"><Choice value="sport"/></Choices>
      <labels name="ner" toName="doc"><label value="LOC"/><label value="PER"/></labels>
      <Text name="doc" value="$body"/></View>"""
    texts = ["Maria Okafor flew to Lisbon ."]
    (response,) = _call(
        create_app(keyword_predictor), ("POST", "/labelstudio/predict", _predict_body(texts, config, "body"))
    )
    assert response.status_code == 200, response.text
    parsed = _check_answer(response.json(), texts, {"LOC", "PER"}, "ner", "doc")
    assert [(i.value.text, i.value.labels) for i in parsed.results[0].result] == [
        ("Maria Okafor", ["PER"]),
        ("Lisbon", ["LOC"]),
    ]


def test_map_renames_types_to_the_projects_labels(keyword_predictor: Predictor) -> None:
    config = """<View><Labels name="label" toName="text">
      <Label value="Person"/><Label value="Organization"/><Label value="LOC"/><Label value="Misc"/>
      </Labels><Text name="text" value="$text"/></View>"""
    settings = ServeSettings(label_map="PER=Person, ORG=Organization, LOC=O")
    texts = ["Maria Okafor flew to Lisbon for Quill Systems .", "Danish"]
    app = create_app(keyword_predictor, settings)
    (response, stats) = _call(
        app, ("POST", "/labelstudio/predict", _predict_body(texts, config)), ("GET", "/labelstudio/stats", None)
    )
    parsed = _check_answer(response.json(), texts, {"Person", "Organization", "LOC", "Misc"})
    found = [[(i.value.text, i.value.labels[0]) for i in p.result] for p in parsed.results]
    # LOC is mapped to O on purpose, MISC has no label ("Misc" is another name): both left out.
    assert found == [[("Maria Okafor", "Person"), ("Quill Systems", "Organization")], []]
    assert stats.json()["left_out"] == {"LOC": 1, "MISC": 1}


def test_a_map_naming_a_type_the_model_lacks_is_refused(keyword_predictor: Predictor) -> None:
    with pytest.raises(UserError, match="PERSON.*its types: LOC, MISC, ORG, PER"):
        create_app(keyword_predictor, ServeSettings(label_map="PERSON=Person"))


def test_setup_and_health_answer_the_model_version(keyword_predictor: Predictor) -> None:
    setup = {"project": "1.1764979200", "schema": NER_CONFIG, "hostname": "http://localhost:8080", "access_token": "x"}
    name = Path(keyword_predictor.model.path).name
    default, health = _call(
        create_app(keyword_predictor), ("POST", "/labelstudio/setup", setup), ("GET", "/labelstudio/health", None)
    )
    assert default.json() == {"model_version": name}
    assert health.status_code == 200 and health.json()["status"] == "UP"
    app = create_app(keyword_predictor, ServeSettings(model_version="ner-v2"))
    (named, predicted) = _call(
        app, ("POST", "/labelstudio/setup", setup), ("POST", "/labelstudio/predict", _predict_body(["Lisbon"]))
    )
    assert named.json() == {"model_version": "ner-v2"}
    assert predicted.json()["model_version"] == predicted.json()["results"][0]["model_version"] == "ner-v2"


HYPERTEXT = (
    '<View><HyperTextLabels name="l" toName="h"><Label value="PER"/></HyperTextLabels>'
    '<HyperText name="h" value="$html"/></View>'
)
BAD_REQUESTS = {
    "no tasks": ({"label_config": NER_CONFIG}, ["body", "tasks"], "missing"),
    "tasks not a list": ({"tasks": {"data": {}}, "label_config": NER_CONFIG}, ["body", "tasks"], "list_type"),
    "a task without data": (
        {"tasks": [{"id": 1}], "label_config": NER_CONFIG},
        ["body", "tasks", 0, "data"],
        "missing",
    ),
    "no label config": ({"tasks": _tasks(["x"])}, ["body", "label_config"], "missing"),
    "config not XML": (_predict_body(["x"], "<View><Labels>"), ["body", "label_config"], "label_config"),
    "config without Labels": (
        _predict_body(["x"], '<View><Text name="t" value="$text"/></View>'),
        ["body", "label_config"],
        "label_config",
    ),
    "labels on hypertext": (_predict_body(["x"], HYPERTEXT), ["body", "label_config"], "label_config"),
    "task lacks the text field": (_predict_body(["x"], key="body"), ["body", "tasks", 0, "data", "text"], "task_text"),
    "text not a string": (
        {"tasks": [{"id": 7, "data": {"text": 3}}], "label_config": NER_CONFIG},
        ["body", "tasks", 0, "data", "text"],
        "task_text",
    ),
    # json.dumps escapes the lone surrogate as \ud800, as a JavaScript client may send it.
    "unpaired surrogate": (
        json.dumps(_predict_body(["a\ud800b"])).encode(),
        ["body", "tasks", 0, "data", "text"],
        "task_text",
    ),
    "not JSON": (b'{"tasks": [', ["body", 11], "json_invalid"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_422_with_a_located_json_error(keyword_predictor: Predictor, case: str) -> None:
    body, loc, kind = BAD_REQUESTS[case]
    (response,) = _call(create_app(keyword_predictor), ("POST", "/labelstudio/predict", body))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert [error["loc"] for error in detail] == [loc]
    assert detail[0]["type"] == kind and detail[0]["msg"]


def test_setup_refuses_a_config_it_cannot_fill(keyword_predictor: Predictor) -> None:
    (response,) = _call(create_app(keyword_predictor), ("POST", "/labelstudio/setup", {"schema": HYPERTEXT}))
    assert response.status_code == 422
    assert "HyperText" in response.json()["detail"][0]["msg"]


def test_config_reading_chooses_the_first_control_taking_a_model_type() -> None:
    config = """<View><Text name="a" value="$first"/><Text name="b" value="$second"/>
      <Labels name="colours" toName="a"><Label value="RED"/></Labels>
      <Labels name="ner" toName="a,b"><Label value="PER"/></Labels></View>"""
    targets = label_targets(config)
    assert [(t.from_name, t.to_name, t.data_key, t.labels) for t in targets] == [
        ("colours", "a", "first", ("RED",)),
        ("ner", "a", "first", ("PER",)),
        ("ner", "b", "second", ("PER",)),
    ]
    chosen = choose_target(config, ["PER", "LOC"], TypeMap())
    assert (chosen.target.from_name, chosen.labels, chosen.left_out) == ("ner", {"PER": "PER"}, ("LOC",))
    # No control takes any type: the first, with every type left out.
    fallback = choose_target(config, ["ORG"], TypeMap())
    assert (fallback.target.from_name, fallback.labels, fallback.left_out) == ("colours", {}, ("ORG",))
