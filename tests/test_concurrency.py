"""Concurrent workers: 4 processes x 25 trials on one study, on the journal file and on a real PostgreSQL
(exactly 100 completed trials and 100 child runs, no trial twice), and live workers keeping their trials."""

import optuna
import pytest
from conftest import runs
from optuna.trial import TrialState

from antelope import sweep

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("storage", ["journal", "postgresql"])
def test_four_workers_hundred_trials_nothing_lost_or_doubled(storage, postgres):
    url = postgres("optuna") if storage == "postgresql" else None
    study = sweep(
        model="models.Model",
        space={"optim.lr": "tag(log, interval(1e-4, 1e-1))"},
        trials=100,
        workers=4,
        storage=url,
        sampler="random",
        pruner="none",
        train_steps=2,
        evaluate_per_steps=0,
        log_per_steps=1,
        save_per_steps=1000,
        study=f"concurrency-{storage}",
    )
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.number for t in complete) == list(range(100))
    assert all("optim.lr" in t.params for t in complete)  # the first trial of each worker process too
    assert all(t.user_attrs.get("surplus") for t in trials if t.state != TrialState.COMPLETE)  # at most 3 asked late
    table = runs("Digits")
    children = table[table["tags.antelope.trial"].notna()]
    assert len(children) == 100 and children["tags.antelope.trial"].nunique() == 100
    assert set(children["status"]) == {"FINISHED"}
    assert set(children["tags.antelope.worker"]) == {"0", "1", "2", "3"}
    assert sorted(t.user_attrs["mlflow_run_id"] for t in complete) == sorted(children["run_id"])


def test_live_workers_keep_their_trials_on_a_short_heartbeat(capfd):
    """Trials longer than the heartbeat's grace (3 s at sweep.heartbeat=1) on two workers: each beats, so
    none is taken over. The journal's heartbeat is ours (Optuna's journal has none); without it the worker
    that finishes first would find the other's trial silent and take it (and the two would trade it)."""
    from antelope.sweeps.studies import HEARTBEAT, open_storage

    sweep(
        model="models.Sleepy",
        space={"optim.lr": "tag(log, interval(1e-4, 1e-1))"},
        trials=3,
        workers=2,
        heartbeat=1,
        study="live",
        pruner="none",
        train_steps=100,
        evaluate_per_steps=0,
        log_per_steps=50,
    )
    assert "lost its worker" not in capfd.readouterr().err  # 5 s a trial; the workers' output too
    trials = optuna.load_study(study_name="live", storage=open_storage("optuna.journal")).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert all(HEARTBEAT in t.system_attrs for t in trials)  # each beat at least once
    children = runs("Digits").query("`tags.antelope.trial`.notna()", engine="python")
    assert len(children) == 3 and "tags.resume_count" not in children.columns
