"""The study around a search, without training: the budget counted in trial order, a study or output folder that
belongs to another search refused, and the tables and best.toml read from trials made by hand."""

from __future__ import annotations

import csv
import io
import tomllib
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import TrialState, create_trial

from bertner.config_files import load_config
from bertner.search.results import summarize
from bertner.search.space import SearchSpace, load_space
from bertner.search.study import SPACE_ATTR, Budget, claim_output, default_storage, open_study
from bertner.search.write import best_toml

DISTRIBUTIONS = {
    "train.lr": FloatDistribution(1e-5, 1e-3, log=True),
    "model.crf": CategoricalDistribution([True, False]),
}


def _space(tmp_path: Path, high: float = 1e-3, epochs: int = 1) -> SearchSpace:
    path = tmp_path / "space.toml"
    path.write_text(
        f'[train]\nepochs = 3\n[search]\n"train.lr" = {{low = 1e-5, high = {high}, log = true}}\n'
        '"model.crf" = {choices = [true, false]}\n',
        encoding="utf-8",
    )
    return load_space(path, {"train.epochs": epochs})


def _trial(state: TrialState, lr: float, f1: list[float], **system: object) -> optuna.trial.FrozenTrial:
    return create_trial(
        state=state,
        value=max(f1) if state == TrialState.COMPLETE else None,
        params={"train.lr": lr, "model.crf": True},
        distributions=DISTRIBUTIONS,
        intermediate_values=dict(enumerate(f1, start=1)),
        system_attrs=system,
    )


def test_the_budget_admits_the_first_n_live_trials_by_number() -> None:
    study = optuna.create_study(direction="maximize")
    study.add_trial(_trial(TrialState.COMPLETE, 1e-4, [0.5]))
    study.add_trial(_trial(TrialState.FAIL, 1e-4, []))
    study.add_trial(_trial(TrialState.PRUNED, 1e-4, [0.1]))
    running = [study.ask().number for _ in range(3)]  # 3, 4, 5
    budget = Budget(4)
    # Live before each: 3 has {0, 2}; 4 has {0, 2, 3}; 5 has {0, 2, 3, 4}, one too many. The failed 1 is no one's.
    assert [budget.admits(study, number) for number in running] == [True, True, False]
    assert budget.is_spent(study)
    assert not Budget(6).is_spent(study)
    study.enqueue_trial({"train.lr": 1e-4, "model.crf": False})
    assert not budget.is_spent(study)  # a waiting trial is always run


def test_a_study_continues_only_with_the_space_and_base_it_started_with(tmp_path: Path) -> None:
    storage = default_storage(tmp_path)
    pruner = optuna.pruners.NopPruner()
    study = open_study(_space(tmp_path), storage, "s", 0, pruner)
    study.add_trial(_trial(TrialState.COMPLETE, 1e-4, [0.5]))
    assert open_study(_space(tmp_path), storage, "s", 0, pruner).trials[0].value == 0.5
    with pytest.raises(ValueError, match=r"space.toml: study 's' was started with another .*in \[search\] train.lr\)"):
        open_study(_space(tmp_path, high=1e-2), storage, "s", 0, pruner)
    with pytest.raises(ValueError, match=r"differs in train.epochs\)"):
        open_study(_space(tmp_path, epochs=2), storage, "s", 0, pruner)
    # A setting config.py gained or lost since the study began is not a change of the study's config.
    stored = study.user_attrs[SPACE_ATTR]
    del stored["config"]["train.seed"]
    study.set_user_attr(SPACE_ATTR, {**stored, "config": {**stored["config"], "train.retired_setting": 1}})
    assert len(open_study(_space(tmp_path), storage, "s", 0, pruner).trials) == 1
    foreign = optuna.create_study(storage=storage, study_name="foreign", direction="maximize")
    foreign.add_trial(_trial(TrialState.COMPLETE, 1e-4, [0.5]))
    with pytest.raises(ValueError, match="study 'foreign' was not made by bertner search"):
        open_study(_space(tmp_path), storage, "foreign", 0, pruner)
    optuna.create_study(storage=storage, study_name="loss")
    with pytest.raises(ValueError, match="study 'loss' minimises its objective"):
        open_study(_space(tmp_path), storage, "loss", 0, pruner)


def test_an_output_folder_holds_the_trials_of_one_study(tmp_path: Path) -> None:
    storage = default_storage(tmp_path)
    pruner = optuna.pruners.NopPruner()
    first = open_study(_space(tmp_path), storage, "first", 0, pruner)
    (tmp_path / "out").mkdir()
    claim_output(tmp_path / "out", first, storage)
    claim_output(tmp_path / "out", first, storage)  # the same study again: fine
    second = open_study(_space(tmp_path), storage, "second", 0, pruner)
    with pytest.raises(ValueError, match="holds the trials of study 'first'.*choose another --output"):
        claim_output(tmp_path / "out", second, storage)
    (tmp_path / "new" / "trials" / "000").mkdir(parents=True)
    with pytest.raises(ValueError, match="holds trial folders, but study 'second' has no trials"):
        claim_output(tmp_path / "new", second, storage)


def test_the_table_and_best_toml_from_trials_made_by_hand(tmp_path: Path) -> None:
    study = optuna.create_study(direction="maximize", study_name="hand")
    study.add_trial(_trial(TrialState.COMPLETE, 1e-4, [0.5, 0.7]))
    study.add_trial(_trial(TrialState.FAIL, 2e-4, [0.2]))
    study.add_trial(_trial(TrialState.COMPLETE, 2e-4, [0.7, 0.6], failed_trial=1))
    study.add_trial(_trial(TrialState.PRUNED, 3e-4, [0.1]))
    study.add_trial(_trial(TrialState.COMPLETE, 4e-4, [0.6, 0.65]))
    summary = summarize(study, ("train.lr", "model.crf"))
    assert summary.best is not None and summary.best.number == study.best_trial.number == 0  # first of equals
    rows = list(csv.DictReader(io.StringIO(summary.to_csv())))
    assert [row["state"] for row in rows] == ["complete", "failed", "complete", "pruned", "complete"]
    assert [row["valid_f1_epoch_2"] for row in rows] == ["0.7", "", "0.6", "", "0.65"]
    assert [row["valid_f1"] for row in rows] == ["0.7", "", "0.7", "", "0.65"]
    assert [row["note"] for row in rows] == [
        "",
        "lost (its process died); retried as trial 2",
        "retry of trial 1",
        "pruned after epoch 1",
        "",
    ]
    markdown = summary.to_markdown()
    assert "Trials: 3 complete, 1 pruned, 1 failed." in markdown
    assert "| **0** | complete | 0.0001 | true | 50.00 / 70.00 | 70.00 |" in markdown
    text = best_toml(summary, _space(tmp_path))
    config = load_config(None, tomllib.loads(text))
    assert (config.train.lr, config.model.crf, config.train.epochs) == (1e-4, True, 3)  # the base's epochs
    assert "trial 0 of study 'hand'" in text and "train.epochs = 1 (the search's budget" in text
