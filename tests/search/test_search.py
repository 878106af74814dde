"""`bertner search` on the tiny model: a search killed in its second trial and resumed ends with exactly three
complete trials and a best.toml that trains; a study shared by two processes runs no more trials than its
budget; a trial lost on another machine is found by its heartbeat; and the pruner stops a trial early."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import shutil
import signal
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from bertner.cli import main
from bertner.config_files import load_config, read_saved_config
from bertner.layout import INCOMPLETE_MARKER, LOCK_FILENAME
from bertner.precision import with_bf16_decided
from bertner.search import run as search_module
from bertner.search.run import SearchSettings, run_search
from bertner.search.space import SearchSpace, load_space
from bertner.search.study import default_storage
from bertner.training.lock import RunLock

TRIALS = 3


def _write_space(folder: Path, encoder: Path, epochs: int = 1) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "space.toml"
    path.write_text(
        f"""
[model]
encoder = "{encoder}"
[train]
epochs = {epochs}
batch_size = 4

[search]
"train.lr" = {{low = 1e-4, high = 3e-2, log = true}}
"model.crf" = {{choices = [true, false]}}
""",
        encoding="utf-8",
    )
    return path


def _argv(space: Path, data: Path, output: Path, trials: int = TRIALS) -> list[str]:
    return ["-q", "search", str(space), "--data", str(data), "--output", str(output), "--trials", str(trials)]


def _study(output: Path, name: str = "space") -> optuna.Study:
    return optuna.load_study(study_name=name, storage=default_storage(output))


def _states(study: optuna.Study) -> list[str]:
    return [trial.state.name for trial in study.get_trials()]


def _search_killed_in_trial(argv: list[str], doomed: int) -> None:
    """A child process: run the search, and kill itself (SIGKILL, no cleanup) after the first epoch of the
    `doomed`-th trial it trains, with that trial's run folder locked and half written."""
    original = search_module.train_model
    started: list[int] = []

    def train_then_die(*args: Any, on_epoch: Any = None, **kwargs: Any) -> Any:
        started.append(1)
        if len(started) == doomed:

            def die(epoch: int, f1: float) -> None:
                os.kill(os.getpid(), signal.SIGKILL)

            on_epoch = die
        return original(*args, on_epoch=on_epoch, **kwargs)

    search_module.train_model = train_then_die  # type: ignore[assignment]
    main(argv)


def _cli(argv: list[str]) -> None:
    """A child process that runs a bertner command and exits with its exit code."""
    raise SystemExit(main(argv))


def _wait_for_a_trial(storage: str, seconds: float = 300.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if optuna.load_study(study_name="space", storage=storage).trials:
                return
        except KeyError:  # the study is not made yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"no trial appeared in {storage} within {seconds} s")


def _spawn(target: Any, *args: Any) -> multiprocessing.process.BaseProcess:
    # spawn, as the experiment runner: a forked child of a process that has started torch's threads can deadlock.
    process = multiprocessing.get_context("spawn").Process(target=target, args=args)
    process.start()
    return process


@pytest.fixture(scope="module")
def resumed(tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A search killed in its second trial, a copy of its study as it was then, and the search resumed."""
    root = tmp_path_factory.mktemp("search")
    space, output = _write_space(root, tiny_bert), root / "out"
    argv = _argv(space, tiny_data, output)
    child = _spawn(_search_killed_in_trial, argv, 2)
    child.join()
    assert child.exitcode == -signal.SIGKILL
    killed_at = time.monotonic()
    at_kill = _states(_study(output))
    # The storage as another machine sharing it sees it: without the dead process's worker lock.
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(output / "study.db", elsewhere / "study.db")
    assert main(argv) == 0
    return {"space": space, "output": output, "at_kill": at_kill, "elsewhere": elsewhere, "killed_at": killed_at}


def test_a_killed_search_resumes_to_exactly_its_budget(resumed: dict[str, Any]) -> None:
    assert resumed["at_kill"] == ["COMPLETE", "RUNNING"]
    study = _study(resumed["output"])
    assert _states(study) == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    lost, retry = study.trials[1], study.trials[2]
    assert retry.system_attrs["failed_trial"] == 1 and retry.params == lost.params
    assert len([t for t in study.trials if t.state == TrialState.COMPLETE]) == TRIALS


def test_the_killed_trials_folder_is_left_incomplete_and_unlocked(resumed: dict[str, Any]) -> None:
    trials = resumed["output"] / "trials"
    assert sorted(path.name for path in trials.iterdir()) == ["000", "001", "002", "003"]
    assert (trials / "001" / INCOMPLETE_MARKER).is_file() and not (trials / "001" / "trial.json").exists()
    for name in ("000", "002", "003"):
        record = json.loads((trials / name / "trial.json").read_text(encoding="utf-8"))
        assert record["state"] == "complete" and not (trials / name / INCOMPLETE_MARKER).exists()
        assert not (trials / name / "checkpoints").exists()
    assert not any((trials / name / LOCK_FILENAME).exists() for name in ("000", "002", "003"))
    with RunLock(trials / "001"):  # the killed process's lock file is left, but its lock is free
        pass
    assert not list((resumed["output"] / "workers").glob(f"*/{LOCK_FILENAME}"))  # the dead worker's is cleared


def test_the_table_agrees_with_each_trials_metrics_file(resumed: dict[str, Any]) -> None:
    output = resumed["output"]
    rows = list(csv.DictReader(io.StringIO((output / "trials.csv").read_text(encoding="utf-8"))))
    study = _study(output)
    assert [(row["number"], row["state"]) for row in rows] == [
        ("0", "complete"),
        ("1", "failed"),
        ("2", "complete"),
        ("3", "complete"),
    ]
    for row in rows:
        trial = study.trials[int(row["number"])]
        assert float(row["train.lr"]) == trial.params["train.lr"] and row["model.crf"] == str(trial.params["model.crf"])
        if row["state"] != "complete":
            continue
        lines = (output / "trials" / f"{int(row['number']):03d}" / "metrics.jsonl").read_text(encoding="utf-8")
        per_epoch = [json.loads(line)["valid"]["f1"] for line in lines.splitlines()]
        assert [float(row["valid_f1_epoch_1"])] == per_epoch
        assert float(row["valid_f1"]) == max(per_epoch) == trial.value
    assert rows[1]["note"] == "lost (its process died); retried as trial 2"
    assert rows[2]["note"] == "retry of trial 1"
    markdown = (output / "trials.md").read_text(encoding="utf-8")
    assert f"Best: trial {study.best_trial.number}," in markdown and "![" in markdown
    assert (output / "trials.png").read_bytes().startswith(b"\x89PNG")


def test_best_toml_is_the_best_trials_config_and_trains(
    resumed: dict[str, Any], tiny_data: Path, tmp_path: Path
) -> None:
    best = _study(resumed["output"]).best_trial
    path = resumed["output"] / "best.toml"
    config = load_config(path)
    assert (config.train.lr, config.model.crf) == (best.params["train.lr"], best.params["model.crf"])
    assert config == load_space(resumed["space"]).best_config(best.params)
    run = tmp_path / "from-best"
    assert (
        main(["-q", "train", "--config", str(path), "--data", str(tiny_data), "--output", str(run), "--no-test"]) == 0
    )
    assert read_saved_config(run) == with_bf16_decided(config)  # "auto" is recorded as this machine's decision


def test_a_rerun_with_the_budget_spent_trains_nothing(
    resumed: dict[str, Any], tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("no trial should be trained")

    monkeypatch.setattr(search_module, "train_model", refuse)
    assert main(_argv(resumed["space"], tiny_data, resumed["output"])) == 0
    assert len(_study(resumed["output"]).trials) == 4


def test_a_trial_lost_on_another_machine_is_failed_by_its_heartbeat(resumed: dict[str, Any], tiny_data: Path) -> None:
    """In a copy of the storage taken at the kill, resumed from another output folder, no worker lock tells the
    trial is lost: it is failed once its last heartbeat is older than the grace period, and run again."""
    output = resumed["elsewhere"]
    time.sleep(max(0.0, resumed["killed_at"] + 4.5 - time.monotonic()))  # grace: 4 x heartbeat_seconds
    settings = SearchSettings(str(tiny_data), output, TRIALS - 1, "space", progress=False, heartbeat_seconds=1)
    run_search(load_space(resumed["space"]), settings)
    study = _study(output)
    assert _states(study) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert study.trials[2].system_attrs["failed_trial"] == 1
    assert study.trials[2].params == study.trials[1].params


def test_two_processes_sharing_a_study_run_exactly_its_budget(tiny_bert: Path, tiny_data: Path, tmp_path: Path) -> None:
    space, output = _write_space(tmp_path, tiny_bert), tmp_path / "shared"
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    argv = [*_argv(space, tiny_data, output), "--storage", storage]
    other = _spawn(_cli, [*argv, "--seed", "1"])
    _wait_for_a_trial(storage)  # so that the two processes overlap
    assert main(argv) == 0
    other.join()
    assert other.exitcode == 0
    study = optuna.load_study(study_name="space", storage=storage)
    assert [t.state for t in study.trials].count(TrialState.COMPLETE) == TRIALS
    assert all(t.state == TrialState.COMPLETE or t.user_attrs.get("note") == "surplus" for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2


class AlwaysPrune(optuna.pruners.BasePruner):
    """Prunes every trial at its first report."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        return True


def test_a_pruned_trial_stops_after_its_first_epoch_and_the_study_continues(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path
) -> None:
    space: SearchSpace = load_space(_write_space(tmp_path, tiny_bert, epochs=3))
    output = tmp_path / "out"
    run_search(space, SearchSettings(str(tiny_data), output, 2, "space", progress=False), pruner=AlwaysPrune())
    study = _study(output)
    assert _states(study) == ["PRUNED", "PRUNED"]
    for trial in study.trials:
        assert list(trial.intermediate_values) == [1]
        folder = output / "trials" / f"{trial.number:03d}"
        assert len((folder / "metrics.jsonl").read_text(encoding="utf-8").splitlines()) == 1  # 1 epoch of 3
        assert (folder / INCOMPLETE_MARKER).is_file() and not (folder / LOCK_FILENAME).exists()
        assert json.loads((folder / "trial.json").read_text(encoding="utf-8"))["pruned_after_epoch"] == 1
    assert not (output / "best.toml").exists()
    assert "pruned after epoch 1" in (output / "trials.md").read_text(encoding="utf-8")

    run_search(space, SearchSettings(str(tiny_data), output, 3, "space", progress=False, pruner="none"))
    study = _study(output)
    assert _states(study) == ["PRUNED", "PRUNED", "COMPLETE"]
    assert list(study.trials[2].intermediate_values) == [1, 2, 3]
    assert (output / "best.toml").is_file()
