"""`bertner ensemble`, then evaluate and predict on the folder: a run's ensemble with itself is the run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bertner.cli import main
from bertner.labels import LabelSet
from bertner.layout import CALIBRATION_FILE, ENSEMBLE_MANIFEST
from tiny_models import write_random_run

LABELS = LabelSet.from_types(["LOC", "MISC", "ORG", "PER"])
TEXT = "Maria Okafor flew to Lisbon on Tuesday . Quill hired Anika Rao ."


@pytest.fixture(scope="module")
def members(tiny_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two saved untrained runs with random heads (one with a CRF), so that they predict a mix of entities."""
    root = tmp_path_factory.mktemp("cli-members")
    return (
        write_random_run(tiny_bert, root / "a", LABELS, crf=True, seed=0, head_std=0.5),
        write_random_run(tiny_bert, root / "b", LABELS, seed=1, head_std=0.5),
    )


def _evaluate(model: Path, data: Path, output: Path | None = None) -> int:
    argv = ["-q", "evaluate", "--model", str(model), "--data", str(data), "--bootstrap-samples", "10"]
    return main(argv + (["--output", str(output)] if output else []))


def _predict(model: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    capsys.readouterr()
    assert main(["-q", "predict", "--model", str(model), "--text", TEXT]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_evaluate_and_predict_on_an_ensemble_of_a_run_with_itself_give_the_runs_results(
    members: tuple[Path, Path], tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, ensemble = members[0], tmp_path / "ensemble"
    assert main(["-q", "ensemble", str(run), str(run), "--output", str(ensemble)]) == 0
    out = capsys.readouterr().out
    assert f"wrote {ensemble}: 2 members (referenced by absolute path; torch)" in out
    assert f"bertner calibrate {ensemble} --data DATA" in out
    for name, model in (("run", run), ("ensemble", ensemble)):
        assert _evaluate(model, tiny_data, tmp_path / f"eval-{name}") == 0
    predicted = {name: (tmp_path / f"eval-{name}" / "predictions.conll").read_text() for name in ("run", "ensemble")}
    assert predicted["ensemble"] == predicted["run"]
    assert any(line.split()[-1] != "O" for line in predicted["run"].splitlines() if line.strip())

    alone, together = _predict(run, capsys), _predict(ensemble, capsys)
    assert alone[0]["entities"], "the oracle needs entities"
    assert [[(e["start"], e["end"], e["type"]) for e in line["entities"]] for line in together] == [  # type: ignore[attr-defined]
        [(e["start"], e["end"], e["type"]) for e in line["entities"]]
        for line in alone  # type: ignore[attr-defined]
    ]


def test_a_copied_ensemble_of_two_runs_evaluates_into_its_own_folder(
    members: tuple[Path, Path], tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensemble = tmp_path / "ensemble"
    assert main(["-q", "ensemble", *map(str, members), "--output", str(ensemble), "--copy"]) == 0
    out = capsys.readouterr().out
    assert "2 members (copied into it; torch)" in out and "Viterbi" in out
    manifest = json.loads((ensemble / ENSEMBLE_MANIFEST).read_text(encoding="utf-8"))
    assert manifest["copied"] is True
    assert [m["source"] for m in manifest["members"]] == [str(m.resolve()) for m in members]
    assert _evaluate(ensemble, tiny_data) == 0
    assert (ensemble / "eval" / "test" / "metrics.json").is_file()


def test_members_with_other_labels_are_exit_2_naming_the_member_and_nothing_is_written(
    members: tuple[Path, Path], tiny_bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_random_run(tiny_bert, tmp_path / "per-only", LabelSet.from_types(["PER"]))
    ensemble = tmp_path / "ensemble"
    assert main(["-q", "ensemble", str(members[0]), str(other), "--output", str(ensemble)]) == 2
    # The last line: transformers draws its weight-loading bars on stderr before it.
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("bertner ensemble: error: ") and f"{other}: its labels are not the ensemble's" in err
    assert not ensemble.exists()


def test_a_missing_member_is_exit_2_naming_it_and_nothing_is_written(
    members: tuple[Path, Path], tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    member, ensemble = tmp_path / "member", tmp_path / "ensemble"
    shutil.copytree(members[1], member)
    assert main(["-q", "ensemble", str(members[0]), str(member), "--output", str(ensemble)]) == 0
    shutil.rmtree(member)
    capsys.readouterr()
    assert _evaluate(ensemble, tiny_data, tmp_path / "eval") == 2
    err = capsys.readouterr().err
    assert f"member 2 of 2 ({member.resolve()}) is missing" in err and err.count("\n") == 1
    assert not (tmp_path / "eval").exists()
    assert main(["-q", "predict", "--model", str(ensemble), "--text", TEXT]) == 2
    assert "is missing" in capsys.readouterr().err


def test_calibrate_gives_an_ensemble_its_own_temperature_and_leaves_its_members_alone(
    members: tuple[Path, Path], tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run, ensemble = members[0], tmp_path / "ensemble"
    assert main(["-q", "ensemble", str(run), str(run), "--output", str(ensemble)]) == 0
    before = _predict(ensemble, capsys)
    assert before == _predict(run, capsys)  # an ensemble of a run with itself, both at their own T
    assert main(["-q", "calibrate", str(ensemble), "--data", str(tiny_data), "--per-type", "no"]) == 0
    assert (ensemble / CALIBRATION_FILE).is_file() and not (run / CALIBRATION_FILE).is_file()
    after = _predict(ensemble, capsys)
    spans = [[(e["start"], e["end"], e["type"]) for e in line["entities"]] for line in after]  # type: ignore[attr-defined]
    assert spans == [[(e["start"], e["end"], e["type"]) for e in line["entities"]] for line in before]  # type: ignore[attr-defined]
    assert [e["score"] for line in after for e in line["entities"]] != [  # type: ignore[attr-defined]
        e["score"]
        for line in before
        for e in line["entities"]  # type: ignore[attr-defined]
    ]
    assert _predict(run, capsys) == before  # the member's own scores are untouched
