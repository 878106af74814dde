"""Run every variant x seed of an experiment, skip what is finished, then write the results.

A run folder is finished when it holds `run.json` (written right after training, with the run's time,
parameter counts and peak memory) and `eval/valid/metrics.json` (and `eval/test/metrics.json` when the
experiment scores test). An unfinished run resumes from its last checkpoint; a trained run that lacks an
evaluation is only evaluated. A run folder whose saved config differs from the experiment's is an error,
not something to mix into the table.

Each run trains in its own child process by default (`isolate`), so that one run's memory is never
counted in, or left behind for, the next, and `getrusage` in the child gives that run's peak resident
memory. In-process runs (`isolate=False`, for tests and debugging) reset the kernel's peak counter before
each run instead, which also counts memory the process already held.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import resource
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bertner.config import DataConfig
from bertner.data.corpus import Corpus, load_corpus
from bertner.errors import UserError
from bertner.experiments.results import EVAL_DIR, ExperimentResults, collect_results
from bertner.experiments.spec import Experiment, PlannedRun
from bertner.experiments.write import write_results
from bertner.files import write_text_atomic
from bertner.inference.evaluate import evaluate_sentences, write_evaluation
from bertner.layout import CHECKPOINTS_DIR, CONFIG_FILENAME, RUN_RECORD, SPLIT_METRICS
from bertner.model.store import load_model
from bertner.training.resume import changes_from_record
from bertner.training.trainer import train_model

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass(frozen=True)
class RunOptions:
    """What every run of an experiment shares."""

    data: str
    evaluate_test: bool
    progress: bool = True
    encoder_cache: Path | None = None

    @property
    def splits(self) -> tuple[str, ...]:
        return ("valid", "test") if self.evaluate_test else ("valid",)


def is_finished(run: PlannedRun, splits: tuple[str, ...]) -> bool:
    """Whether the run was trained (run.json) and scored on every split the experiment asks for."""
    return (run.run_dir / RUN_RECORD).is_file() and all(
        (run.run_dir / EVAL_DIR / split / SPLIT_METRICS).is_file() for split in splits
    )


def check_saved_config(run: PlannedRun) -> None:
    """Refuse a run folder that was started with another config (the experiment file changed since), naming each
    changed setting: the comparison `train --resume` makes (training/resume.py)."""
    if not (run.run_dir / CONFIG_FILENAME).is_file():
        return
    changes = changes_from_record(run.run_dir, run.config)
    if changes:
        raise UserError(
            f"{run.run_dir}: this run was started with another config than the experiment now gives "
            f"{run.variant!r} seed {run.seed} ({'; '.join(str(change) for change in changes)}); delete the folder "
            "to rerun it, or choose another output"
        )


def _status_kib(field: str) -> int | None:
    """A `kB` field of /proc/self/status (Linux), e.g. VmHWM, the peak resident set size."""
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process to its current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return True


class PeakMemory:
    """Peak resident memory (and GPU memory) of this process during one run.

    `own_process`: the process exists only for this run, so its lifetime peak (getrusage ru_maxrss) is
    the run's. Otherwise the kernel's counter is reset at the start and read at the end.
    """

    def __init__(self, own_process: bool) -> None:
        self.own_process = own_process
        self.reset = own_process or _reset_peak_rss()
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()

    def read(self) -> dict[str, Any]:
        kib: float | None
        if self.own_process:
            # ru_maxrss is in KiB on Linux, in bytes on macOS.
            kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)
            method = "getrusage ru_maxrss of the run's own process"
        else:
            kib = _status_kib("VmHWM") if self.reset else None
            method = "VmHWM of the shared process, reset at the run's start" if kib else "unavailable"
        gpu = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
        return {
            "peak_rss_mb": round(kib / 1024, 1) if kib else None,
            "peak_rss_method": method,
            "peak_gpu_mb": round(gpu, 1) if gpu is not None else None,
        }


def execute_run(run: PlannedRun, corpus: Corpus, options: RunOptions, own_process: bool = False) -> None:
    """Train the run unless it was trained, then score its saved model on every split not yet scored."""
    record_path = run.run_dir / RUN_RECORD
    if not record_path.is_file():
        resume = any((run.run_dir / CHECKPOINTS_DIR).glob("checkpoint-*"))
        memory = PeakMemory(own_process)
        result = train_model(
            run.config,
            corpus,
            run.run_dir,
            resume=resume,
            progress=options.progress,
            encoder_cache=options.encoder_cache,
        )
        record = {
            "variant": run.variant,
            "seed": run.seed,
            "best_valid_f1": result.best_valid_f1,
            "epochs_run": result.epochs_run,
            # A resumed run's time counts only its last session.
            "train_seconds": round(result.train_seconds, 1),
            "resumed": resume,
            "trainable_parameters": result.trainable_parameters,
            "total_parameters": result.total_parameters,
            **memory.read(),
        }
        write_text_atomic(record_path, json.dumps(record, indent=2) + "\n")
    missing = [split for split in options.splits if not (run.run_dir / EVAL_DIR / split / SPLIT_METRICS).is_file()]
    if missing:
        model = load_model(run.run_dir)
        for split in missing:
            evaluation = evaluate_sentences(model, getattr(corpus, split), progress=options.progress)
            write_evaluation(evaluation, run.run_dir / EVAL_DIR / split, run.run_dir)


def _child(run: PlannedRun, options: RunOptions, log_level: int) -> None:
    """The entry point of a run's own process."""
    logging.basicConfig(level=log_level, format=LOG_FORMAT)
    execute_run(run, load_corpus(options.data, run.config.data), options, own_process=True)


def _run_isolated(run: PlannedRun, options: RunOptions) -> None:
    # spawn, not fork: a forked child of a process that has started torch's thread pools can deadlock.
    context = multiprocessing.get_context("spawn")
    level = logging.getLogger("bertner").getEffectiveLevel()
    process = context.Process(target=_child, args=(run, options, level), name=f"{run.variant}/seed-{run.seed}")
    process.start()
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(
            f"run {run.variant!r} seed {run.seed} failed (exit code {process.exitcode}; its error is logged above); "
            f"rerun the experiment to resume it from {run.run_dir}"
        )


def run_experiment(
    experiment: Experiment, progress: bool = True, isolate: bool = True, encoder_cache: Path | None = None
) -> ExperimentResults:
    """Run every unfinished run, then write results.{md,csv,json} and results.png into the output folder.

    Args:
        experiment: what to run (see experiments/spec.py).
        progress: show progress bars.
        isolate: train each run in its own child process (see the module docstring).
        encoder_cache: where named encoders assembled on first use are kept (model/encoders.py).
    """
    options = RunOptions(experiment.data, experiment.evaluate_test, progress, encoder_cache)
    runs = experiment.runs()
    for run in runs:
        check_saved_config(run)
    corpora: dict[DataConfig, Corpus] = {}
    for number, run in enumerate(runs, start=1):
        where = f"[{number}/{len(runs)}] {run.variant} seed {run.seed}"
        if is_finished(run, options.splits):
            logger.info("%s: finished earlier, skipped", where)
            continue
        logger.info("%s: running in %s", where, run.run_dir)
        if isolate:
            _run_isolated(run, options)
            continue
        if run.config.data not in corpora:
            corpora[run.config.data] = load_corpus(options.data, run.config.data)
        execute_run(run, corpora[run.config.data], options)
    results = collect_results(experiment)
    for path in write_results(results, experiment.output):
        logger.info("wrote %s", path)
    return results
