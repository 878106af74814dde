"""A search's Optuna study: its storage, the trial budget shared by every process, and trials lost to a crash.

The study lives in an Optuna RDB storage (a SQLite file in the output folder by default, or any URL
`optuna.storages.RDBStorage` takes), so that a search resumes where it stopped and several processes, on one
machine or many, can work on one study. Three rules make that safe:

- **Budget.** `--trials N` is the number of trials the study should hold that are complete or pruned. A trial
  is run only if fewer than N trials *before it* (by trial number, which the storage hands out atomically) are
  complete, pruned, running or waiting to be run (:meth:`Budget.admits`); so however many processes race,
  no more than N are ever run, and a trial that lost the race is marked failed with the note `surplus`.
  A failed trial frees its place; rerunning the search with a larger N continues the study.
- **Lost trials.** A process that dies (kill -9, power loss, OOM killer) leaves its trial RUNNING. Two mechanisms
  fail such a trial and queue a retry with the same values (Optuna's `RetryHeartbeatStaleTrialCallback`, at most
  once): every process holds a lock in `OUTPUT/workers/` while it runs and names it on its trials, and a lock
  the kernel released means its process is gone (:func:`fail_lost_trials`), which a search that shares the
  output folder sees at once; and Optuna's heartbeat, written by each running trial, fails trials of any
  process, on any machine, once it is `4 x heartbeat` seconds old.
- **One study per output folder.** `OUTPUT/search.json` names the study whose trials `OUTPUT/trials/` holds;
  another study, or a study that lost its trials (a deleted study.db), is refused rather than mixed in. A
  study remembers its search space and base config, and a rerun with other ones is refused.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy.exc import ArgumentError, OperationalError

from bertner.errors import MissingExtraError, UserError
from bertner.files import read_json, write_text_atomic
from bertner.layout import LOCK_FILENAME, SEARCH_CLAIM_FILE
from bertner.search.space import SearchSpace
from bertner.training.lock import RunFolderBusyError, RunLock

try:
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from optuna.trial import FrozenTrial, TrialState
except ImportError as error:  # the `search` extra
    raise MissingExtraError("bertner search needs optuna: pip install 'bertner[search]'") from error

logger = logging.getLogger(__name__)

__all__ = [
    "Budget",
    "Worker",
    "claim_output",
    "default_storage",
    "fail_lost_trials",
    "open_study",
]

STUDY_FILE = "study.db"
WORKERS_DIR = "workers"
TRIALS_DIR = "trials"
SPACE_ATTR = "bertner.space"
WORKER_ATTR = "worker"
NOTE_ATTR = "note"
LIVE = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.WAITING)


def default_storage(output: Path) -> str:
    """A SQLite file in the output folder, as an RDB URL (an absolute path: four slashes)."""
    return f"sqlite:///{(output / STUDY_FILE).resolve()}"


def shown_url(url: str) -> str:
    """The storage URL without its password, for files and messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError as error:
        raise UserError(f"--storage {url!r}: not a database URL Optuna can use ({error})") from None


def retry_lost() -> RetryHeartbeatStaleTrialCallback:
    """Queue a lost trial again with the same values, once: a setting that kills its process twice is dropped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return RetryHeartbeatStaleTrialCallback(max_retry=1)


def _storage(url: str, heartbeat_seconds: int, retry: RetryHeartbeatStaleTrialCallback) -> RDBStorage:
    # SQLite allows one writer at a time; a process waits up to a minute for another's write, not 5 s.
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    shown = shown_url(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return RDBStorage(
                url,
                engine_kwargs=engine,
                heartbeat_interval=heartbeat_seconds,
                grace_period=4 * heartbeat_seconds,
                heartbeat_stale_trial_callback=retry,
            )
        except ImportError as error:
            raise MissingExtraError(f"--storage {shown}: the database driver is not installed ({error})") from error
        except OperationalError as error:
            raise UserError(f"--storage {shown}: cannot open the database ({error.orig})") from error


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The searched settings that differ, and the settings of the starting config that differ among those both
    sides know: a setting added to (or removed from) config.py since the study began is not a difference."""
    searched = set(stored.get("search", {})) | set(wanted["search"])
    changed = [
        f"[search] {name}" for name in searched if stored.get("search", {}).get(name) != wanted["search"].get(name)
    ]
    config = stored.get("config", {})
    changed += [name for name in set(config) & set(wanted["config"]) if config[name] != wanted["config"][name]]
    return sorted(changed)


def _check_space(study: optuna.Study, space: SearchSpace) -> None:
    """Store the space with a new study; refuse to continue a study made with another space or base config."""
    stored = study.user_attrs.get(SPACE_ATTR)
    wanted = json.loads(json.dumps(space.to_dict()))
    if stored is None:
        if study.get_trials(deepcopy=False):
            raise UserError(f"study {study.study_name!r} was not made by bertner search; choose another --study-name")
        study.set_user_attr(SPACE_ATTR, wanted)
        return
    changed = _differences(stored, wanted)
    if changed:
        raise UserError(
            f"{space.where}: study {study.study_name!r} was started with another search space or base config "
            f"(differs in {', '.join(changed)}); give it another --study-name or --output to start a new study"
        )


def open_study(
    space: SearchSpace,
    storage_url: str,
    name: str,
    seed: int,
    pruner: optuna.pruners.BasePruner,
    heartbeat_seconds: int = 30,
) -> optuna.Study:
    """Create the study, or load it to continue it (`load_if_exists`), maximising valid F1.

    The TPE sampler is seeded with `seed` plus the number of trials the study already holds, so that a search
    run from the start is reproducible and a resumed one does not draw the same first trials again.
    """
    retry = retry_lost()
    storage = _storage(storage_url, heartbeat_seconds, retry)
    try:
        existing = len(storage.get_all_trials(storage.get_study_id_from_name(name), deepcopy=False))
    except KeyError:
        existing = 0
    sampler = optuna.samplers.TPESampler(seed=seed + existing)
    study = optuna.create_study(
        storage=storage, study_name=name, sampler=sampler, pruner=pruner, direction="maximize", load_if_exists=True
    )
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise UserError(f"study {name!r} minimises its objective; bertner search maximises valid F1")
    _check_space(study, space)
    return study


def claim_output(output: Path, study: optuna.Study, storage_url: str) -> None:
    """Record in OUTPUT/search.json that `study` owns OUTPUT/trials/, refusing any other study.

    The default storage is recorded by its file name alone, so that the folder can be moved with its study.
    """
    own = storage_url == default_storage(output)
    claim = {"study_name": study.study_name, "storage": STUDY_FILE if own else shown_url(storage_url)}
    path = output / SEARCH_CLAIM_FILE
    if path.is_file():
        previous = read_json(path, "the search's study")
        if previous != claim:
            raise UserError(
                f"{output}: holds the trials of study {previous.get('study_name')!r} in {previous.get('storage')}, "
                f"not {claim['study_name']!r} in {claim['storage']}; choose another --output"
            )
    # Listed before the trials are counted: a trial's folder appears only after the trial is in the storage.
    leftovers = list((output / TRIALS_DIR).glob("*")) if (output / TRIALS_DIR).is_dir() else []
    if leftovers and not study.get_trials(deepcopy=False):
        raise UserError(
            f"{output / TRIALS_DIR}: holds trial folders, but study {study.study_name!r} has no trials (was its "
            "storage deleted?); move the folder away or choose another --output"
        )
    write_text_atomic(path, json.dumps(claim, indent=2) + "\n")


@dataclass(frozen=True)
class Budget:
    """At most `trials` trials complete, pruned, running or waiting, over every process."""

    trials: int

    def admits(self, study: optuna.Study, number: int) -> bool:
        """Whether trial `number` is among the first `trials` live trials, counted in the order they were made."""
        live = study.get_trials(deepcopy=False, states=LIVE)
        return sum(trial.number < number for trial in live) < self.trials

    def is_spent(self, study: optuna.Study) -> bool:
        """No trial is waiting to be run, and the complete, pruned and running ones fill the budget."""
        live = study.get_trials(deepcopy=False, states=LIVE)
        return not any(trial.state == TrialState.WAITING for trial in live) and len(live) >= self.trials


class Worker:
    """This process's lock in OUTPUT/workers/<host>-<pid>-<random>/, held while it runs trials.

    Its trials carry the folder's name (WORKER_ATTR), so that another search in the same output folder can
    tell whether the process that runs a trial is alive: the kernel releases the lock when a process dies.
    """

    def __init__(self, output: Path) -> None:
        self.name = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.folder = output / WORKERS_DIR / self.name
        self._lock = RunLock(self.folder)

    def __enter__(self) -> Worker:
        self._lock.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._lock.release()
        shutil.rmtree(self.folder, ignore_errors=True)


def _running(study: optuna.Study, number: int) -> FrozenTrial | None:
    """Trial `number` as the storage has it now, if it is still running."""
    trial = study.get_trials(deepcopy=False)[number]
    return trial if trial.state == TrialState.RUNNING else None


def fail_lost_trials(study: optuna.Study, output: Path) -> list[int]:
    """Fail the RUNNING trials of processes that died holding a worker lock in `output`, and queue each again.

    Only the folders that running trials name are looked at: a live worker's folder is locked before it makes a
    trial, so a folder found unlocked is a dead worker's. Its lock is taken before its trials are touched, so two
    searches recovering one worker do it one after the other, and the second finds nothing left to do. Trials of
    other machines or output folders name no folder here and are left to the heartbeat. Returns the numbers failed.
    """
    retry = retry_lost()
    failed: list[int] = []
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    names = {trial.user_attrs.get(WORKER_ATTR) for trial in running}
    for name in sorted(n for n in names if isinstance(n, str) and n not in ("", ".", "..") and "/" not in n):
        folder = output / WORKERS_DIR / name
        if not (folder / LOCK_FILENAME).is_file():
            continue
        lock = RunLock(folder)
        try:
            lock.acquire()
        except RunFolderBusyError:
            continue  # its process is alive
        try:
            for trial in running:
                lost = _running(study, trial.number) if trial.user_attrs.get(WORKER_ATTR) == name else None
                if lost is None:
                    continue
                logger.warning(
                    "trial %d: its process (%s) is gone; failing it and queueing it again", lost.number, name
                )
                study.tell(lost.number, state=TrialState.FAIL, skip_if_finished=True)
                retry(study, lost)
                failed.append(lost.number)
        finally:
            lock.release()
            with contextlib.suppress(OSError):
                folder.rmdir()
    return failed


def fail_stale_trials(study: optuna.Study) -> None:
    """Optuna's heartbeat check: fail (and queue again) trials whose process stopped writing heartbeats."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
