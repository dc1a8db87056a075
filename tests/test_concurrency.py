"""Concurrent workers: 4 processes x 25 trials on one study, on the journal file and on a real PostgreSQL
(exactly 100 completed trials and 100 child runs, no trial twice), 4 processes sharing 10 trials' 30 seeds (each
run once), and live workers keeping their trials."""

import optuna
import pytest
from conftest import runs
from optuna.trial import TrialState

from antelope import sweep
from antelope.sweeps import studies

pytestmark = pytest.mark.slow
FOUR_WORKERS = dict(  # 4 processes at once on one study, each trial 2 steps: the storage's contention, not training
    model="models.Model",
    space={"optim.lr": "tag(log, interval(1e-4, 1e-1))"},
    workers=4,
    sampler="random",
    pruner="none",
    train_steps=2,
    evaluate_per_steps=0,
    log_per_steps=1,
    save_per_steps=1000,
)


@pytest.mark.parametrize("storage", ["journal", "postgresql"])
def test_four_workers_hundred_trials_nothing_lost_or_doubled(storage, postgres):
    url = postgres("optuna") if storage == "postgresql" else None
    study = sweep(trials=100, storage=url, study=f"concurrency-{storage}", **FOUR_WORKERS)
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert sorted(t.number for t in complete) == list(range(100))
    assert all("optim.lr" in t.params for t in complete)  # the first trial of each worker process too
    assert studies.counted(trials) == complete  # the rest, at most 3, asked late: surplus, unrun
    table = runs("Digits")
    children = table[table["tags.antelope.trial"].notna()]
    assert len(children) == 100 and children["tags.antelope.trial"].nunique() == 100
    assert set(children["status"]) == {"FINISHED"}
    assert set(children["tags.antelope.worker"]) == {"0", "1", "2", "3"}
    assert sorted(t.user_attrs["mlflow_run_id"] for t in complete) == sorted(children["run_id"])


@pytest.mark.parametrize("storage", ["journal", "postgresql"])
def test_four_workers_share_the_seeds_of_ten_trials_each_seed_run_once(storage, postgres):
    """sweep.seeds=3: 30 seeds queued in the storage and taken by 4 workers at once, each exactly once."""
    from antelope.sweeps.studies import open_storage

    url = postgres("optuna") if storage == "postgresql" else None
    study = sweep(trials=10, seeds=3, storage=url, study=f"seeds-{storage}", **FOUR_WORKERS)
    complete = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    assert sorted(t.number for t in complete) == list(range(10))
    table = runs("Digits")
    seed_runs = table[table["tags.antelope.seed_of_trial"].notna()]
    assert len(seed_runs) == 30 and set(seed_runs["status"]) == {"FINISHED"}
    ran = seed_runs[["tags.antelope.seed_of_trial", "tags.antelope.seed_index"]].drop_duplicates()
    assert len(ran) == 30  # no seed twice
    assert seed_runs["tags.antelope.worker"].nunique() > 1
    seeds = optuna.load_study(study_name=f"seeds-{storage}:seeds", storage=open_storage(url or "optuna.journal"))
    assert [t.state for t in seeds.trials] == [TrialState.COMPLETE] * 30
    assert sorted(t.user_attrs["mlflow_run_id"] for t in seeds.trials) == sorted(seed_runs["run_id"])
    for t in complete:  # each trial's value is its own seeds' mean
        of_trial = seed_runs[seed_runs["tags.antelope.seed_of_trial"] == str(t.number)]
        assert len(of_trial) == 3 and t.value == pytest.approx(of_trial["metrics.kept/accuracy"].mean())


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
    trials = studies.counted(optuna.load_study(study_name="live", storage=open_storage("optuna.journal")).trials)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert all(HEARTBEAT in t.system_attrs for t in trials)  # each beat at least once
    children = runs("Digits").query("`tags.antelope.trial`.notna()", engine="python")
    assert len(children) == 3 and "tags.resume_count" not in children.columns
