"""Hyperparameter search: Optuna's TPE sampler proposes settings, `train_model` trains each trial, and a pruner
fed with every epoch's valid F1 stops trials that are doing worse than the others at the same epoch.

Each trial trains into `OUTPUT/trials/NNN` (its trial number) with the search space's base config, the budget
and the trial's values (search/space.py), and its value is the best valid F1 over its epochs. A pruned
trial stops after the epoch it was pruned at: its folder keeps the incomplete marker training leaves, and
`trial.json` says it was pruned. Checkpoints are deleted once a trial ends (a search never resumes a trial);
the model of the best epoch stays in every complete trial's folder.

When the search stops (its budget is spent, or `timeout`), it writes `trials.md`, `trials.csv`, `trials.png`
and `best.toml` from what the study holds, trials of other processes included (search/results.py).
How the budget, lost trials and a shared study work: search/study.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from bertner.config import DataConfig
from bertner.data.corpus import Corpus, load_corpus
from bertner.files import write_text_atomic
from bertner.layout import CHECKPOINTS_DIR, TRIAL_RECORD
from bertner.search.results import SearchSummary, summarize
from bertner.search.space import SearchSpace
from bertner.search.study import (
    NOTE_ATTR,
    TRIALS_DIR,
    WORKER_ATTR,
    Budget,
    Worker,
    claim_output,
    default_storage,
    fail_lost_trials,
    fail_stale_trials,
    open_study,
)
from bertner.search.write import write_outputs
from bertner.training.trainer import train_model

logger = logging.getLogger(__name__)

__all__ = ["PRUNERS", "SearchSettings", "make_pruner", "run_search", "trial_dir"]

PRUNERS = ("median", "hyperband", "none")


@dataclass(frozen=True)
class SearchSettings:
    """How a search runs; `trials` is the study's budget over every process (search/study.py).

    `storage`: an Optuna RDB URL; None is OUTPUT/study.db. `seed` seeds the sampler. `timeout`: seconds after
    which no new trial is started. `heartbeat_seconds`: how often a running trial tells the storage it is alive.
    """

    data: str
    output: Path
    trials: int
    study_name: str
    storage: str | None = None
    seed: int = 0
    pruner: str = "median"
    timeout: float | None = None
    progress: bool = True
    encoder_cache: Path | None = None
    heartbeat_seconds: int = 30

    @property
    def storage_url(self) -> str:
        return self.storage or default_storage(self.output)


def make_pruner(name: str) -> optuna.pruners.BasePruner:
    """`median`: prune a trial whose valid F1 at an epoch is below the median of earlier trials at that epoch
    (after 5 trials); `hyperband`: Optuna's Hyperband over epochs; `none`: never prune."""
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, reduction_factor=3)
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"pruner must be one of {', '.join(PRUNERS)}, not {name!r}")


def trial_dir(output: Path, number: int) -> Path:
    return output / TRIALS_DIR / f"{number:03d}"


class SurplusTrial(Exception):
    """A trial made after the budget was filled by other processes; it fails without training."""


def _write_record(run_dir: Path, trial: optuna.Trial, state: str, **extra: Any) -> None:
    record = {"number": trial.number, "state": state, "params": trial.params, **extra}
    write_text_atomic(run_dir / TRIAL_RECORD, json.dumps(record, indent=2) + "\n")


class _Corpora:
    """The corpus of each data config a trial asks for, read once per process."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.read: dict[DataConfig, Corpus] = {}

    def get(self, data: DataConfig) -> Corpus:
        if data not in self.read:
            self.read[data] = load_corpus(self.source, data)
        return self.read[data]


class _Objective:
    """Trains one trial."""

    def __init__(
        self, space: SearchSpace, settings: SearchSettings, budget: Budget, worker: str, corpora: _Corpora
    ) -> None:
        self.space, self.settings, self.budget, self.worker, self.corpora = space, settings, budget, worker, corpora

    def __call__(self, trial: optuna.Trial) -> float:
        trial.set_user_attr(WORKER_ATTR, self.worker)
        trial.set_user_attr("host", socket.gethostname())
        trial.set_user_attr("pid", os.getpid())
        if not self.budget.admits(trial.study, trial.number):
            trial.set_user_attr(NOTE_ATTR, "surplus")
            trial.study.stop()
            raise SurplusTrial(f"trial {trial.number}: the budget of {self.budget.trials} trials is already taken")
        config = self.space.trial_config(self.space.suggest(trial))
        run_dir = trial_dir(self.settings.output, trial.number)
        trial.set_user_attr("run_dir", str(run_dir))
        logger.info("trial %d: %s -> %s", trial.number, trial.params, run_dir)
        epochs = config.train.epochs
        reported: list[int] = []

        def on_epoch(epoch: int, f1: float) -> None:
            trial.report(f1, epoch)
            reported.append(epoch)
            # After the last epoch there is nothing left to save by stopping.
            if epoch < epochs and trial.should_prune():
                raise optuna.TrialPruned(f"valid F1 {f1 * 100:.2f} after epoch {epoch} of {epochs}")

        try:
            result = train_model(
                config,
                self.corpora.get(config.data),
                run_dir,
                progress=self.settings.progress,
                encoder_cache=self.settings.encoder_cache,
                on_epoch=on_epoch,
            )
        except optuna.TrialPruned:
            _write_record(run_dir, trial, "pruned", pruned_after_epoch=reported[-1])
            raise
        finally:
            shutil.rmtree(run_dir / CHECKPOINTS_DIR, ignore_errors=True)
        _write_record(run_dir, trial, "complete", value=result.best_valid_f1)
        return result.best_valid_f1


def _stop_when_spent(budget: Budget, output: Path) -> Callable[[optuna.Study, Any], None]:
    def after_trial(study: optuna.Study, trial: Any) -> None:
        fail_lost_trials(study, output)
        if budget.is_spent(study):
            study.stop()

    return after_trial


def run_search(
    space: SearchSpace, settings: SearchSettings, pruner: optuna.pruners.BasePruner | None = None
) -> SearchSummary:
    """Run trials until the study holds `settings.trials` complete or pruned ones (or `timeout`), then write the
    tables, the plot and best.toml into the output folder. `pruner` replaces `settings.pruner`'s."""
    corpora = _Corpora(settings.data)
    corpora.get(space.trial_config({}).data)  # a bad --data is refused before a study or trial is made
    settings.output.mkdir(parents=True, exist_ok=True)
    study = open_study(
        space,
        settings.storage_url,
        settings.study_name,
        settings.seed,
        pruner if pruner is not None else make_pruner(settings.pruner),
        settings.heartbeat_seconds,
    )
    claim_output(settings.output, study, settings.storage_url)
    budget = Budget(settings.trials)
    with Worker(settings.output) as worker:
        fail_lost_trials(study, settings.output)
        fail_stale_trials(study)
        if budget.is_spent(study):
            logger.info("study %r already holds its %d trials", study.study_name, settings.trials)
        else:
            study.optimize(
                _Objective(space, settings, budget, worker.name, corpora),
                timeout=settings.timeout,
                catch=(SurplusTrial,),
                callbacks=[_stop_when_spent(budget, settings.output)],
                gc_after_trial=True,
            )
    summary = summarize(study, space.names)
    for path in write_outputs(summary, space, settings.output):
        logger.info("wrote %s", path)
    return summary
