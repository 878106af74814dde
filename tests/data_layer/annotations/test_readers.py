"""Each export format read from the hand-written fixtures (tests/data/annotations/), counted by hand; the choice
among several annotations; and for each format the malformed files (bad JSON on line N, a span past the text,
start > end, an unknown key layout) stopped with `path:line`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bertner.data.annotations.detect import record_format
from bertner.data.annotations.labelstudio import choose
from bertner.data.annotations.read import ReadOptions, read_file, read_json_records, read_sentences
from bertner.data.annotations.words import WordPolicy
from bertner.errors import UserError

DATA = Path(__file__).parents[2] / "data" / "annotations"


def _tagged(path: Path, **options: str) -> list[list[tuple[str, str]]]:
    sentences, _ = read_sentences(path, ReadOptions(**options), WordPolicy())
    return [list(zip(s.words, s.tags, strict=True)) for s in sentences]


def _entities(path: Path, **options: str) -> list[tuple[str, str]]:
    """(type, words) of every entity, in order."""
    found: list[tuple[str, str]] = []
    for sentence in _tagged(path, **options):
        for word, tag in sentence:
            if tag.startswith("B-"):
                found.append((tag[2:], word))
            elif tag.startswith("I-"):
                found[-1] = (found[-1][0], f"{found[-1][1]} {word}")
    return found


def test_label_studio_export_counted_by_hand() -> None:
    path = DATA / "folder" / "train.json"
    sentences, report = read_sentences(path, ReadOptions(), WordPolicy())
    assert (report.format, report.offsets.unit, report.records, report.texts) == ("labelstudio", "codepoints", 6, 5)
    # Task 106's only annotation was cancelled: skipped. Task 101: annotation 2 is the latest; 102: annotation 3 is
    # ground truth though older; 105: the cancelled annotation 8 is newer but never chosen.
    assert [(d.id, d.reason) for d in report.dropped_records] == [(106, "skipped")]
    assert report.counts == {
        "annotations not chosen": 2,
        "cancelled annotations": 1,
        "results that are not entity labels": 1,
    }
    assert _entities(path) == [
        ("PER", "Marta Olsen"),
        ("LOC", "Bergen"),
        ("ORG", "Harbour Trust"),
        ("MISC", "Danish"),
        ("LOC", "Aarhus"),
        ("PER", "Jonas Weber"),
        ("LOC", "Graz"),
        ("LOC", "Lisbon"),
        ("ORG", "Atlas Foods"),
        ("PER", "Sofia Lind"),
        ("PER", "Pedro Alves"),
        ("LOC", "Porto"),
    ]
    # "Marta Olsen " was selected with its space: trimmed, and listed as changed.
    assert [(c.id, c.text, c.actions, c.kept) for c in report.changed] == [(101, "Marta Olsen ", ("trimmed",), (0, 11))]
    assert report.spans == report.entities == 12
    assert [s.line for s in sentences] == [
        2,
        76,
        160,
        247,
        262,
    ]  # where each task opens (grep -n '^  {')
    assert sentences[1].where(6) == f"{path}:76 (word 7: '🎉')"


@pytest.mark.parametrize(
    ("rule", "first_task"),
    [("ground_truth", [("PER", "Marta Olsen"), ("LOC", "Bergen")]), ("first", [("PER", "Marta Olsen")])],
)
def test_the_annotation_rule_picks_among_several(rule: str, first_task: list[tuple[str, str]]) -> None:
    entities = _entities(DATA / "folder" / "train.json", annotation=rule)
    assert entities[: len(first_task)] == first_task
    second = entities[len(first_task) : len(first_task) + 3]
    # Task 102: ground_truth takes annotation 3 (marked); first takes it too (the oldest); latest would take 4.
    assert second == [("ORG", "Harbour Trust"), ("MISC", "Danish"), ("LOC", "Aarhus")]
    assert _entities(DATA / "folder" / "train.json", annotation="latest")[1:3] == [("LOC", "Bergen"), ("LOC", "Aarhus")]


def test_choose_by_rule() -> None:
    annotations = [
        {"id": 1, "created_at": "2026-01-02", "ground_truth": False},
        {"id": 2, "created_at": "2026-01-01", "ground_truth": True},
        {"id": 3, "created_at": "2026-01-03", "was_cancelled": True},
    ]
    assert [choose(annotations, rule) for rule in ("ground_truth", "latest", "first")] == [1, 0, 1]
    assert choose([{"was_cancelled": True}], "latest") is None


def test_doccano_with_utf16_offsets_and_astral_characters() -> None:
    path = DATA / "folder" / "dev.jsonl"
    _, report = read_sentences(path, ReadOptions(), WordPolicy())
    assert (report.format, report.offsets.unit) == ("doccano", "utf16")
    assert _entities(path) == [
        ("PER", "Holm"),
        ("LOC", "Vienna"),
        ("ORG", "Nordic Rail"),
        ("PER", "Lukas Brandt"),
        ("LOC", "Madrid"),
    ]


def test_doccano_entity_objects_with_a_combining_mark_and_crlf() -> None:
    path = DATA / "doccano_entities.jsonl"
    _, report = read_sentences(path, ReadOptions(), WordPolicy())
    assert report.offsets.unit == "codepoints" and "inferred" in report.offsets.how
    assert _entities(path) == [("PER", "Zoe\u0301 Park"), ("LOC", "Kyiv"), ("LOC", "Tallinn")]


def test_prodigy_keeps_accepted_answers_only() -> None:
    path = DATA / "folder" / "test.jsonl"
    _, report = read_sentences(path, ReadOptions(), WordPolicy())
    assert report.format == "prodigy"
    assert [(d.line, d.reason) for d in report.dropped_records] == [(2, "answer 'reject'")]
    assert _entities(path) == [
        ("PER", "Elena Rossi"),
        ("LOC", "Milan"),
        ("ORG", "Verde Bank"),
        ("PER", "Nina Berg"),
        ("LOC", "Turku"),
    ]


def test_label_studio_json_min_takes_the_latest_row_of_a_task() -> None:
    path = DATA / "labelstudio_min.json"
    _, report = read_sentences(path, ReadOptions(), WordPolicy())
    assert (report.format, report.records, report.texts) == ("labelstudio-min", 3, 2)
    assert _entities(path) == [("PER", "Greta Hall"), ("ORG", "Polar Labs"), ("LOC", "Tromsø"), ("PER", "Anders Moe")]
    assert _entities(path, annotation="first")[:3] == [
        ("PER", "Greta Hall"),
        ("ORG", "Polar Labs"),
        ("PER", "Anders Moe"),
    ]


def test_generic_spans_read_label_or_type() -> None:
    path = DATA / "spans.jsonl"
    assert read_file(path, ReadOptions()).format == "spans"
    assert _entities(path) == [
        ("PER", "Ida Strand"),
        ("LOC", "Riga"),
        ("PER", "Omar Haddad"),
        ("ORG", "Blue Pine Ltd"),
        ("PER", "Carla Diaz"),
    ]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"data": {"text": "a"}, "annotations": []}, "labelstudio"),
        ({"text": "a", "label": [{"start": 0, "end": 1, "text": "a", "labels": ["X"]}]}, "labelstudio-min"),
        ({"text": "a", "label": [[0, 1, "X"]]}, "doccano"),
        ({"data": "a", "labels": []}, "doccano"),
        ({"text": "a", "entities": [{"id": 0, "start_offset": 0, "end_offset": 1, "label": "X"}]}, "doccano"),
        ({"text": "a", "spans": [], "answer": "accept"}, "prodigy"),
        ({"text": "a", "spans": [{"start": 0, "end": 1, "label": "X"}]}, "spans"),
        ({"text": "a", "entities": [{"start": 0, "end": 1, "type": "X"}]}, "spans"),
        ({"text": "a"}, None),
    ],
)
def test_the_format_is_told_by_the_keys(record: dict[str, object], expected: str | None) -> None:
    assert record_format(record) == expected


def test_json_records_know_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text('[\n {"text": "a"},\n\n {"text":\n  "b"}\n]\n', encoding="utf-8")
    assert read_json_records(path) == [(2, {"text": "a"}), (4, {"text": "b"})]
    path.write_text('{"text": "a"}\n{"text": "b"}\n', encoding="utf-8")
    assert [line for line, _ in read_json_records(path)] == [1, 2]


# ------------------------------------------------------------------------------------------------ malformed files

_GOOD = {
    "labelstudio": {"data": {"text": "Ada Lovelace wrote."}, "annotations": [{"result": []}]},
    "doccano": {"text": "Ada Lovelace wrote.", "label": []},
    "prodigy": {"text": "Ada Lovelace wrote.", "spans": [], "answer": "accept"},
    "spans": {"text": "Ada Lovelace wrote.", "spans": []},
}


def _with_span(format: str, start: int, end: int) -> dict[str, object]:
    record = json.loads(json.dumps(_GOOD[format]))
    if format == "labelstudio":
        value = {"start": start, "end": end, "labels": ["PER"]}
        record["annotations"][0]["result"] = [
            {"type": "labels", "from_name": "label", "to_name": "text", "value": value}
        ]
    elif format == "doccano":
        record["label"] = [[start, end, "PER"]]
    else:
        record["spans"] = [{"start": start, "end": end, "label": "PER"}]
    return record


def _write(tmp_path: Path, format: str, third: str) -> Path:
    """A file whose records 1, 2 and 4 are good and record 3 is `third`; a JSON array for Label Studio."""
    good = json.dumps(_GOOD[format])
    if format == "labelstudio":
        path = tmp_path / "bad.json"
        path.write_text(f"[\n{good},\n{good},\n{third},\n{good}\n]\n", encoding="utf-8")
    else:
        path = tmp_path / "bad.jsonl"
        path.write_text(f"{good}\n{good}\n{third}\n{good}\n", encoding="utf-8")
    return path


FORMATS = list(_GOOD)


@pytest.mark.parametrize("format", FORMATS)
@pytest.mark.parametrize(
    ("case", "third", "message"),
    [
        ("bad JSON", '{"text": "x", oops}', "not valid JSON"),
        ("span past the text", "PAST", "runs past the text"),
        ("start > end", "BACKWARDS", "span start 9 is after its end 4"),
        ("unknown key layout", '{"tokenized_text": ["Ada"], "ner": [[0, 0, "PER"]]}', "unknown key layout"),
    ],
)
def test_a_malformed_file_is_stopped_at_its_line(
    tmp_path: Path, format: str, case: str, third: str, message: str
) -> None:
    if third == "PAST":
        third = json.dumps(_with_span(format, 4, 40))
    elif third == "BACKWARDS":
        third = json.dumps(_with_span(format, 9, 4))
    path = _write(tmp_path, format, third)
    line = 4 if format == "labelstudio" else 3  # the array's "[" takes line 1
    with pytest.raises(UserError) as caught:
        read_sentences(path, ReadOptions(), WordPolicy())
    assert str(caught.value).startswith(f"{path}:{line}") and message in str(caught.value), str(caught.value)


def test_a_record_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(_GOOD["doccano"]) + "\n" + json.dumps(_GOOD["spans"] | {"spans": [{}]}) + "\n")
    with pytest.raises(
        UserError, match=rf"^{path}:2: the keys of this record .* are spans's, but the file is read as doccano"
    ):
        read_file(path, ReadOptions())


def test_a_named_format_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text(json.dumps({"text": "Ada", "label": [[0, 3, "PER"]]}) + "\n")
    with pytest.raises(UserError, match="read as labelstudio"):
        read_file(path, ReadOptions(format="labelstudio"))


def test_a_label_studio_span_text_that_does_not_match_names_both_texts(tmp_path: Path) -> None:
    value = {"start": 0, "end": 3, "text": "Bob", "labels": ["PER"]}
    task = {"data": {"text": "Ada wrote."}, "annotations": [{"result": [{"type": "labels", "value": value}]}]}
    path = tmp_path / "t.json"
    path.write_text(json.dumps([task]))
    with pytest.raises(
        UserError, match=r"t\.json:1: span \[0, 3\) PER: the text there in code points is 'Ada', the export says 'Bob'"
    ):
        read_sentences(path, ReadOptions(), WordPolicy())
