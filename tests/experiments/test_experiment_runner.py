"""The experiment runner on the tiny data: every variant x seed runs once, finished runs are skipped, and the
tables agree with a hand computation from the runs' own metrics files."""

from __future__ import annotations

import csv
import io
import json
import shutil
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bertner.experiments import runner as runner_module
from bertner.experiments.results import ExperimentResults, collect_results
from bertner.experiments.runner import run_experiment
from bertner.experiments.spec import Experiment, load_experiment

SEEDS = (3, 4)


def _experiment(tiny_bert: Path, tiny_data: Path, output: Path, seeds: tuple[int, ...] = SEEDS, **extra: str) -> Path:
    settings = "".join(f"{key} = {value}\n" for key, value in extra.items())
    text = f"""
[model]
encoder = "{tiny_bert}"
[train]
epochs = 1
lr = 1e-3
batch_size = 4

[experiment]
data = "{tiny_data}"
output = "{output}"
seeds = {list(seeds)}
{settings}
[[variants]]
name = "linear"

[[variants]]
name = "mlp-tanh"
"model.head" = "mlp"
model.head_activation = "tanh"
"""
    path = output.parent / f"{output.name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _metrics_only(evaluation: Any, output: Path, run_dir: Path | None = None, **kwargs: Any) -> None:
    """A stand-in for write_evaluation that writes only metrics.json: the full report (plots, bootstrap) takes
    about a second per split, most of this module's time. The isolated-process test below keeps the real one."""
    output.mkdir(parents=True, exist_ok=True)
    (output / "metrics.json").write_text(json.dumps(evaluation.scores.to_dict()), encoding="utf-8")


@pytest.fixture(autouse=True)
def _fast_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner_module, "write_evaluation", _metrics_only)


def _count_training(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    trained: list[str] = []
    original = runner_module.train_model

    def counting(config: Any, corpus: Any, run_dir: Path, **kwargs: Any) -> Any:
        trained.append(f"{run_dir.parent.name}/{run_dir.name}")
        return original(config, corpus, run_dir, **kwargs)

    monkeypatch.setattr(runner_module, "train_model", counting)
    return trained


@pytest.fixture(scope="module")
def finished(
    tiny_bert: Path, tiny_data: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Experiment, ExperimentResults]:
    output = tmp_path_factory.mktemp("experiment") / "ablation"
    experiment = load_experiment(_experiment(tiny_bert, tiny_data, output))
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(runner_module, "write_evaluation", _metrics_only)
        trained = _count_training(monkeypatch)
        results = run_experiment(experiment, progress=False, isolate=False)
    assert sorted(trained) == sorted(f"{v}/seed-{s}" for v in ("linear", "mlp-tanh") for s in SEEDS)
    return experiment, results


def _f1(path: Path) -> float:
    return float(json.loads(path.read_text(encoding="utf-8"))["overall"]["f1"])


def test_every_variant_and_seed_has_a_finished_run_folder(finished: tuple[Experiment, ExperimentResults]) -> None:
    experiment, _ = finished
    for variant in ("linear", "mlp-tanh"):
        for seed in SEEDS:
            run_dir = experiment.output / variant / f"seed-{seed}"
            record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
            assert (record["variant"], record["seed"]) == (variant, seed)
            assert record["trainable_parameters"] == record["total_parameters"] > 0
            assert record["peak_rss_mb"] > 0 and record["train_seconds"] >= 0
            assert (run_dir / "eval" / "valid" / "metrics.json").is_file()
            assert (run_dir / "eval" / "test" / "metrics.json").is_file()
            assert f"seed = {seed}" in (run_dir / "bertner.toml").read_text(encoding="utf-8")
    saved_head = (experiment.output / "mlp-tanh" / "seed-3" / "bertner.toml").read_text(encoding="utf-8")
    assert 'head = "mlp"' in saved_head and 'head_activation = "tanh"' in saved_head


def test_the_tables_have_one_row_per_variant(finished: tuple[Experiment, ExperimentResults]) -> None:
    experiment, results = finished
    output = experiment.output
    rows = list(csv.DictReader(io.StringIO((output / "results.csv").read_text(encoding="utf-8"))))
    assert [row["variant"] for row in rows] == ["linear", "mlp-tanh"]
    assert [row["runs"] for row in rows] == ["2", "2"]
    assert rows[1]["settings"] == "model.head=mlp, model.head_activation=tanh"
    assert int(rows[1]["trainable_parameters"]) > int(rows[0]["trainable_parameters"])  # the MLP's hidden layer
    types = results.entity_types
    assert types and all(f"test_f1_{name}_mean" in rows[0] for name in types)
    summary = json.loads((output / "results.json").read_text(encoding="utf-8"))
    assert [v["name"] for v in summary["variants"]] == ["linear", "mlp-tanh"]
    assert [[run["seed"] for run in v["seeds"]] for v in summary["variants"]] == [list(SEEDS)] * 2
    markdown = (output / "results.md").read_text(encoding="utf-8")
    table = [line for line in markdown.splitlines() if line.startswith("| linear |") or line.startswith("| mlp-tanh |")]
    assert len(table) == 2 + 2 * len(SEEDS)  # the variant table, then one row per run
    assert "getrusage" in markdown
    png = (output / "results.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_mean_and_std_are_those_of_the_runs_metrics_files(finished: tuple[Experiment, ExperimentResults]) -> None:
    experiment, _ = finished
    summary = json.loads((experiment.output / "results.json").read_text(encoding="utf-8"))
    rows = {row["variant"]: row for row in csv.DictReader(io.StringIO((experiment.output / "results.csv").read_text()))}
    markdown = (experiment.output / "results.md").read_text(encoding="utf-8")
    for variant in summary["variants"]:
        for split in ("valid", "test"):
            values = [
                _f1(experiment.output / variant["name"] / f"seed-{s}" / "eval" / split / "metrics.json") for s in SEEDS
            ]
            mean, std = statistics.mean(values), statistics.stdev(values)
            assert variant[f"{split}_f1"] == pytest.approx({"mean": mean, "std": std, "n": 2}, abs=1e-12)
            assert float(rows[variant["name"]][f"{split}_f1_mean"]) == pytest.approx(mean, abs=1e-12)
            assert float(rows[variant["name"]][f"{split}_f1_std"]) == pytest.approx(std, abs=1e-12)
            assert f"{mean * 100:.2f} ± {std * 100:.2f} (n=2)" in markdown
        for name, per_type in variant["per_type_test_f1"].items():
            files = [
                experiment.output / variant["name"] / f"seed-{s}" / "eval" / "test" / "metrics.json" for s in SEEDS
            ]
            scores = [json.loads(f.read_text(encoding="utf-8"))["per_type"][name] for f in files]
            assert all(row["gold"] > 0 for row in scores)  # types without gold entities are left out
            assert per_type["mean"] == pytest.approx(statistics.mean(row["f1"] for row in scores), abs=1e-12)


def test_rerunning_skips_finished_runs(
    finished: tuple[Experiment, ExperimentResults], monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment, results = finished
    metrics = sorted(experiment.output.glob("*/seed-*/eval/*/metrics.json"))
    stamps = [path.stat().st_mtime_ns for path in metrics]
    trained = _count_training(monkeypatch)
    monkeypatch.setattr(runner_module, "evaluate_sentences", _fail)
    again = run_experiment(experiment, progress=False, isolate=False)
    assert trained == []
    assert [path.stat().st_mtime_ns for path in metrics] == stamps
    assert again.to_dict() == results.to_dict()


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a finished run was evaluated again")


def test_an_unfinished_run_is_resumed_and_a_trained_one_only_evaluated(
    finished: tuple[Experiment, ExperimentResults], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment, _ = finished
    output = tmp_path / "copy"
    shutil.copytree(experiment.output, output)
    (output / "linear" / "seed-4" / "run.json").unlink()  # killed before training finished
    shutil.rmtree(output / "mlp-tanh" / "seed-3" / "eval" / "test")  # killed while evaluating
    copy = Experiment(experiment.data, output, experiment.seeds, experiment.evaluate_test, experiment.variants)
    trained = _count_training(monkeypatch)
    run_experiment(copy, progress=False, isolate=False)
    assert trained == ["linear/seed-4"]
    assert (output / "mlp-tanh" / "seed-3" / "eval" / "test" / "metrics.json").is_file()


def test_a_variant_with_its_own_seeds_is_summarised_over_those(
    finished: tuple[Experiment, ExperimentResults],
) -> None:
    experiment, _ = finished
    linear, mlp = experiment.variants
    one_seed = Experiment(experiment.data, experiment.output, SEEDS, True, (linear, replace(mlp, seeds=(4,))))
    results = collect_results(one_seed)
    assert [[run.seed for run in v.runs] for v in results.variants] == [list(SEEDS), [4]]
    only = _f1(experiment.output / "mlp-tanh" / "seed-4" / "eval" / "test" / "metrics.json")
    assert results.variants[1].test_f1 is not None and results.variants[1].test_f1.mean == pytest.approx(only)
    assert results.to_dict()["variant_seeds"] == {"mlp-tanh": [4]}
    assert "seeds 3, 4 (mlp-tanh: 4)" in results.to_markdown()


def test_a_run_folder_from_another_config_is_refused(
    finished: tuple[Experiment, ExperimentResults], tiny_bert: Path, tiny_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment, _ = finished
    path = _experiment(tiny_bert, tiny_data, experiment.output)
    path.write_text(path.read_text(encoding="utf-8").replace("lr = 1e-3", "lr = 2e-3"), encoding="utf-8")
    trained = _count_training(monkeypatch)
    with pytest.raises(ValueError, match="started with another config"):
        run_experiment(load_experiment(path), progress=False, isolate=False)
    assert trained == []


def test_each_run_in_its_own_process_measures_its_peak_memory(
    tiny_bert: Path, tiny_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the child's torch threads; the fixture only sets this process's
    # The child process runs the real write_evaluation (monkeypatching does not reach it): the full report.
    experiment = load_experiment(_experiment(tiny_bert, tiny_data, tmp_path / "isolated", seeds=(1,)))
    single = Experiment(experiment.data, experiment.output, (1,), False, experiment.variants[:1])
    results = run_experiment(single, progress=False, isolate=True)
    record = json.loads((single.output / "linear" / "seed-1" / "run.json").read_text(encoding="utf-8"))
    assert record["peak_rss_method"] == "getrusage ru_maxrss of the run's own process"
    assert record["peak_rss_mb"] > 100  # the child's own interpreter, torch and transformers
    [variant] = results.variants
    assert variant.test_f1 is None and variant.valid_f1 is not None  # evaluate_test = false
    assert not (single.output / "linear" / "seed-1" / "eval" / "test").exists()
    assert (single.output / "linear" / "seed-1" / "eval" / "valid" / "report.md").is_file()
