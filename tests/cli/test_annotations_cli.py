"""`bertner train` and `bertner convert` on annotation exports (issue 21), run in-process with the tiny model:
the run's annotations.json and config, malformed files refused with exit 2 and no run folder, convert both ways."""

from __future__ import annotations

import json
import logging
import tomllib
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.data.conll import read_conll

DATA = Path(__file__).parents[1] / "data" / "annotations"


def test_train_on_a_folder_of_exports_writes_the_report_beside_the_run(
    tiny_bert: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    run = tmp_path / "run"
    argv = ["-q", "train", "--data", str(DATA / "folder"), "--output", str(run), "--encoder", str(tiny_bert)]
    assert main([*argv, "--epochs", "1", "--batch-size", "4", "--misaligned", "expand", "--no-test"]) == 0
    report = json.loads((run / "annotations.json").read_text(encoding="utf-8"))
    assert report["settings"]["misaligned"] == "expand"
    assert [(f["format"], f["offsets"]["unit"], f["spans"], f["entities"]) for f in report["files"]] == [
        ("labelstudio", "codepoints", 12, 12),
        ("doccano", "utf16", 5, 5),
        ("prodigy", "codepoints", 5, 5),
    ]
    assert report["files"][0]["changed"]["list"][0]["actions"] == ["trimmed"]
    saved = tomllib.loads((run / "bertner.toml").read_text(encoding="utf-8"))["data"]
    assert (saved["format"], saved["misaligned"], saved["split"]) == ("auto", "expand", [])
    assert "train.json: labelstudio, offsets in codepoints" in caplog.text  # on stderr from the command


def _one_bad_file(tmp_path: Path, name: str, lines: list[str]) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for split in ("train", "dev", "test"):
        good = json.dumps({"text": "Ada Lovelace wrote.", "spans": [{"start": 0, "end": 12, "label": "PER"}]})
        (folder / f"{split}.jsonl").write_text(good + "\n", encoding="utf-8")
    (folder / name).unlink(missing_ok=True)
    (folder / name.replace(".jsonl", ".json")).unlink(missing_ok=True)
    (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


_TASK = {"data": {"text": "Ada Lovelace wrote."}, "annotations": [{"result": []}]}


def _ls(start: int, end: int) -> str:
    value = {"start": start, "end": end, "labels": ["PER"]}
    return json.dumps(_TASK | {"annotations": [{"result": [{"type": "labels", "value": value}]}]})


_PER = '{"start": 0, "end": 12, "label": "PER"}'
_CASES = [
    ("train.json", ["[", json.dumps(_TASK) + ",", '{"data": {"text": "x"}, oops}', "]"], 3, "not valid JSON"),
    ("train.json", ["[", json.dumps(_TASK) + ",", _ls(0, 99), "]"], 3, "runs past the text"),
    (
        "dev.jsonl",
        ['{"text": "Ada", "label": [[0, 3, "PER"]]}', '{"text": "Ada", "label": [[3, 1, "PER"]]}'],
        2,
        "after",
    ),
    (
        "test.jsonl",
        ['{"text": "Ada", "answer": "accept"}', '{"tokens": ["Ada"], "ner": [[0, 0, "PER"]]}'],
        2,
        "unknown key",
    ),
    ("train.jsonl", ['{"text": "Ada Lovelace", "spans": [{"start": 0, "end": 6, "label": "PER"}]}'], 1, "cuts through"),
    (
        "train.jsonl",
        ['{"text": "Ada Lovelace", "spans": [' + _PER + ', {"start": 4, "end": 12, "label": "LOC"}]}'],
        1,
        "share",
    ),
]


@pytest.mark.parametrize(("name", "lines", "where", "what"), _CASES)
def test_a_malformed_export_exits_2_naming_the_line_and_leaves_no_run_folder(
    tiny_bert: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    lines: list[str],
    where: int,
    what: str,
) -> None:
    folder = _one_bad_file(tmp_path, name, lines)
    run = tmp_path / "run"
    argv = ["-q", "train", "--data", str(folder), "--output", str(run), "--encoder", str(tiny_bert), "--epochs", "1"]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert f"{folder / name}:{where}" in error and what in error, error
    assert not run.exists()


def test_a_single_file_needs_a_split(tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["-q", "train", "--data", str(DATA / "single.jsonl"), "--output", str(tmp_path / "run")]
    assert main([*argv, "--encoder", str(tiny_bert)]) == 2
    assert "--split 0.8,0.1,0.1" in capsys.readouterr().err and not (tmp_path / "run").exists()
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--split", "0.8,0.3"])
    assert caught.value.code == 2 and "three positive ratios" in capsys.readouterr().err


def test_convert_conll_to_label_studio_and_back_keeps_words_and_tags(tiny_data: Path, tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.json"
    assert main(["convert", str(tiny_data / "train.conll"), str(tasks), "--to", "labelstudio"]) == 0
    loaded = json.loads(tasks.read_text(encoding="utf-8"))
    assert len(loaded) == 2 and loaded[0]["annotations"][0]["result"][0]["value"]["labels"] == ["PER"]
    back = tmp_path / "back.conll"
    report = tmp_path / "report.json"
    argv = ["convert", str(tasks), str(back), "--to", "conll", "--words", "whitespace", "--report", str(report)]
    assert main(argv) == 0
    original = read_conll(tiny_data / "train.conll")
    assert [(s.words, s.tags) for s in read_conll(back)] == [(s.words, s.tags) for s in original]
    assert json.loads(report.read_text(encoding="utf-8"))["files"][0]["entities"] == 13


def test_convert_writes_doccano_offsets_in_utf16_and_splits_into_a_folder(tmp_path: Path) -> None:
    out = tmp_path / "d.jsonl"
    assert main(["convert", str(DATA / "folder" / "dev.jsonl"), str(out), "--to", "doccano"]) == 0
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["label"][0] == [9, 13, "PER"]  # "Holm" after "Karin 😀 ": 9 UTF-16 units, 8 code points
    folder = tmp_path / "parts"
    argv = ["convert", str(DATA / "single.jsonl"), str(folder), "--to", "spans-jsonl", "--split", "0.6,0.2,0.2"]
    assert main(argv) == 0
    counts = [len((folder / f"{n}.jsonl").read_text(encoding="utf-8").splitlines()) for n in ("train", "valid", "test")]
    assert counts == [6, 2, 2]


def test_convert_refuses_a_malformed_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "Ada", "label": [[0, 3, "PER"]]}\n{"text": "Bo", "label": [[0, 9, "PER"]]}\n')
    assert main(["convert", str(bad), str(tmp_path / "out.json"), "--to", "labelstudio"]) == 2
    assert f"{bad}:2" in capsys.readouterr().err and not (tmp_path / "out.json").exists()


_TEXTS = ["Ann 😀 Bo left.", "𠀋 Cy\r\nDee"]


def _predict(model: Path, tmp_path: Path, to: str, *flags: str) -> str:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(_TEXTS)), encoding="utf-8")
    out = tmp_path / f"out-{to}"
    assert (
        main(["-q", "predict", "--model", str(model), "--input", str(source), "--to", to, "--output", str(out), *flags])
        == 0
    )
    return out.read_text(encoding="utf-8")


def test_predict_writes_each_tool_format_with_the_same_entities(all_per_run: Path, tmp_path: Path) -> None:
    reference = [json.loads(line) for line in _predict(all_per_run, tmp_path, "jsonl").splitlines()]
    # The all-B-PER model makes every word an entity: Ann, 😀, Bo, ., 𠀋, Cy, Dee.
    expected = [[(e["start"], e["end"], e["type"], e["score"]) for e in r["entities"]] for r in reference]
    assert [len(e) for e in expected] == [5, 3]

    tasks = json.loads(_predict(all_per_run, tmp_path, "labelstudio", "--from-name", "ner", "--model-version", "v7"))
    assert [t["data"]["text"] for t in tasks] == _TEXTS and [t["meta"]["id"] for t in tasks] == [0, 1]
    for task, entities in zip(tasks, expected, strict=True):
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == "v7" and prediction["score"] == min(e[3] for e in entities)
        result = prediction["result"]
        assert {(r["from_name"], r["to_name"], r["type"]) for r in result} == {("ner", "text", "labels")}
        got = [(r["value"]["start"], r["value"]["end"], r["value"]["labels"][0], r["score"]) for r in result]
        assert got == entities
        assert all(task["data"]["text"][r["value"]["start"] : r["value"]["end"]] == r["value"]["text"] for r in result)

    doccano = [json.loads(line) for line in _predict(all_per_run, tmp_path, "doccano").splitlines()]
    for record, entities in zip(doccano, expected, strict=True):
        units = [len(record["text"][:i].encode("utf-16-le")) // 2 for e in entities for i in e[:2]]
        assert [x for s, e, _ in record["label"] for x in (s, e)] == units  # UTF-16 code units
    assert doccano[0]["label"][2][:2] == [7, 9]  # "Bo" after "Ann 😀 ": code points 6-8, UTF-16 units 7-9

    spans = [json.loads(line) for line in _predict(all_per_run, tmp_path, "spans-jsonl").splitlines()]
    assert [[(s["start"], s["end"], s["label"], s["score"]) for s in r["spans"]] for r in spans] == expected


def test_predicted_spans_read_back_as_an_export(all_per_run: Path, tmp_path: Path) -> None:
    from bertner.data.annotations.read import ReadOptions, read_texts

    path = tmp_path / "predicted.jsonl"
    path.write_text(_predict(all_per_run, tmp_path, "spans-jsonl"), encoding="utf-8")
    read, texts, offsets = read_texts(path, ReadOptions())
    assert (read.format, offsets.unit) == ("spans", "codepoints")
    assert [len(t.spans) for t in texts] == [5, 3]


def test_evaluate_on_an_export_writes_its_report_beside_the_scores(all_per_run: Path, tmp_path: Path) -> None:
    output = tmp_path / "eval"
    argv = ["-q", "evaluate", "--model", str(all_per_run), "--data", str(DATA / "folder" / "test.jsonl")]
    assert main([*argv, "--output", str(output)]) == 0
    report = json.loads((output / "annotations.json").read_text(encoding="utf-8"))
    assert report["files"][0]["format"] == "prodigy" and report["files"][0]["entities"] == 5
    metrics = json.loads((output / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["per_type"]["PER"]["gold"] == 2  # Elena Rossi, Nina Berg


def test_predict_refuses_a_tool_format_on_the_ray_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["predict", "--model", str(tmp_path), "--input", str(tmp_path), "--output", str(tmp_path / "o")]
    assert main([*argv, "--engine", "ray", "--to", "doccano"]) == 2
    assert "--to doccano goes with --engine local" in capsys.readouterr().err
