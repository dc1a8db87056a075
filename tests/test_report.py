"""antelope.sweeps.report on studies made here (no training, no MLflow run but where a sweep's end records): the
console summary of one objective and of several, the Pareto front, and what finish leaves on the parent run."""

import warnings
from types import SimpleNamespace

import mlflow
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from antelope.sweeps import report, studies
from antelope.sweeps.report import finish, pareto_front, summary
from antelope.sweeps.space import Space

SPACE = Space.parse(["optim.lr=tag(log, interval(1e-4, 1e-1))", "train_steps=50"])


def study_of(values, directions=("maximize",), names=("eval/accuracy",), storage=None):
    """A study whose trials ended with `values` (a number, a tuple for several objectives, or a TrialState)."""
    study = optuna.create_study(storage=storage, directions=list(directions))
    with warnings.catch_warnings():  # experimental in Optuna 5, as in the sweep itself
        warnings.simplefilter("ignore")
        study.set_metric_names(list(names))
    for number, value in enumerate(values):
        trial = study.ask()
        lr = trial.suggest_float("optim.lr", 1e-4, 1e-1, log=True)
        trial.set_user_attr("overrides", SPACE.overrides({"optim.lr": lr}))
        trial.set_user_attr("mlflow_run_id", f"run{number}")
        if isinstance(value, TrialState):
            trial.report(0.1, 10)
            study.tell(trial, state=value)
        else:
            study.tell(trial, value)
    return study


def test_the_summary_counts_the_trials_ranks_the_best_and_says_how_to_reproduce_it():
    study = study_of([0.5, 0.9, TrialState.PRUNED, 0.7, TrialState.FAIL])
    text = summary(study, top=2)
    lines = text.splitlines()
    assert lines[0] == f"sweep {study.study_name}: 5 trials (3 COMPLETE, 1 PRUNED, 1 FAIL)"
    assert lines[1] == "best trials (highest first):"
    assert [line.split()[0] for line in lines[3:5]] == ["1", "3"]  # the top 2, best first
    best_lr = study.trials[1].params["optim.lr"]
    assert f"best params: {{'optim.lr': {best_lr}}}" in text
    assert "reproduce the best trial (run run1) with:" in text and "(or: ml reproduce=run1)" in text
    assert f"  ml train_steps=50 optim.lr={best_lr}" in text  # the fixed keys, then the drawn ones


def test_the_summary_leaves_out_trials_asked_after_the_study_filled_up():
    study = study_of([0.5])
    surplus = study.ask()  # a worker asked for it as another took the last trial (antelope.sweeps.trial)
    surplus.set_user_attr(studies.SURPLUS, True)
    study.tell(surplus, state=TrialState.FAIL)
    assert summary(study).splitlines()[0] == f"sweep {study.study_name}: 1 trials (1 COMPLETE, 0 PRUNED, 0 FAIL)"


def test_a_study_without_a_complete_trial_says_so():
    assert summary(study_of([TrialState.FAIL])).endswith("no trial completed")


def test_several_objectives_give_the_pareto_front_with_a_command_per_member():
    study = study_of(
        [(0.9, 100.0), (0.8, 10.0), (0.7, 50.0)], ("maximize", "minimize"), ("eval/accuracy", "cost/parameters")
    )
    front = pareto_front(study)
    assert list(front["trial"]) == [0, 1]  # trial 2 is dominated by trial 1; sorted by the first objective
    assert list(front.columns[:3]) == ["trial", "eval/accuracy", "cost/parameters"] and list(front["run"]) == [
        "run0",
        "run1",
    ]
    text = summary(study)
    assert "Pareto front (2 of 3 complete trials; maximize eval/accuracy, minimize cost/parameters):" in text
    assert "  trial 0: ml train_steps=50 optim.lr=" in text and "  trial 1: ml train_steps=50 optim.lr=" in text
    assert "trial 2: ml" not in text


@pytest.mark.parametrize("waiting", [False, True])
def test_finish_records_the_sweeps_artifacts_and_ends_the_parent_once_no_trial_runs_or_waits(waiting):
    client = mlflow.MlflowClient()
    parent = client.create_run(client.create_experiment("e")).info.run_id
    storage = optuna.storages.InMemoryStorage()
    study = study_of([0.5, 0.9], storage=storage)
    surplus = study.ask()  # trial 2: asked as another worker took the last trial (antelope.sweeps.trial)
    surplus.set_user_attr(studies.SURPLUS, True)
    study.tell(surplus, state=TrialState.FAIL)
    if waiting:  # a trial stopped with a checkpoint, back in the queue: the sweep is not over
        trial = study.ask()
        trial.suggest_float("optim.lr", 1e-4, 1e-1, log=True)
        studies.release(storage, studies.trial_id(storage, study, trial.number))
    plan = SimpleNamespace(
        study="s",
        objective="eval/accuracy",
        direction="maximize",
        objectives=("eval/accuracy",),
        directions=("maximize",),
        multi=False,
        space=SPACE,
        parent_run_id=parent,
        register=None,
    )
    finish(study, plan)
    artifacts = {a.path for a in client.list_artifacts(parent)} | {
        a.path for a in client.list_artifacts(parent, "plots")
    }
    assert {"trials.csv", "plots/sweep_objective.png", "plots/sweep_params.png"} <= artifacts
    trials = pd.read_csv(client.download_artifacts(parent, "trials.csv"))
    assert list(trials["number"]) == ([0, 1, 3] if waiting else [0, 1])  # the surplus trial left out
    assert client.get_run(parent).info.status == ("RUNNING" if waiting else "FINISHED")
    # one swept key explains all there is to explain: Optuna's fANOVA gives it 1, recorded and drawn
    assert client.get_run(parent).data.metrics == {"sweep/importance/optim.lr": 1.0}
    assert "plots/param_importances.png" in artifacts


def test_the_summary_names_the_most_important_keys_by_optunas_default_evaluator():
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(12):  # the objective follows lr alone; the batch size is noise
        trial = study.ask()
        lr = trial.suggest_float("optim.lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("batch_size", [32, 64])
        trial.set_user_attr("overrides", ["optim.lr=x"])
        study.tell(trial, lr)
    importances = report.param_importances(study)
    assert list(importances) == ["optim.lr", "batch_size"] and importances["optim.lr"] > 0.9
    assert report.param_importances(study) == importances  # seeded: the plot and the summary agree
    expected = ", ".join(f"{key} {value:.2f}" for key, value in importances.items())
    assert f"most important keys (fANOVA, Optuna's default): {expected}" in summary(study)
    assert report.param_importances(study_of([0.5])) == {}  # one trial: nothing to weigh
    assert report.param_importances(study_of([0.5, 0.5, 0.5])) == {}  # the same value throughout: nothing to explain
    several = study_of([(0.9, 1.0), (0.8, 2.0)], ("maximize", "minimize"), ("eval/accuracy", "cost/parameters"))
    assert report.param_importances(several) == {}  # a front, not one objective to explain
