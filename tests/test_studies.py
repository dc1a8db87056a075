"""antelope.sweeps.studies: Optuna storages, samplers and pruners by name, heartbeats, a lost trial put back in the
queue and taken by exactly one worker, on a real journal file and a real database (no training, no MLflow run);
and the contract of the Optuna storage methods it calls."""

import datetime
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from antelope import processes
from antelope.errors import ConfigError
from antelope.sweeps import studies


@pytest.fixture
def journal(workdir):
    storage = studies.open_storage("sweeps/optuna.journal")
    assert (workdir / "sweeps" / "optuna.journal").exists()
    return storage


def test_names_of_samplers_and_pruners_and_the_classes_they_build():
    assert [studies.choose("sampler", n) for n in ("TPE", "TPESampler", "cma", "random")] == [
        "tpe",
        "tpe",
        "cmaes",
        "random",
    ]
    assert [studies.choose("pruner", n) for n in ("MedianPruner", "sha", "nop")] == ["median", "halving", "none"]
    with pytest.raises(ConfigError, match=r"unknown sweep.sampler='tpee' \(did you mean 'tpe'\?\)"):
        studies.choose("sampler", "tpee")
    assert isinstance(studies.sampler("random", 3), optuna.samplers.RandomSampler)
    assert isinstance(studies.sampler("grid", 0, {"x": [1, 2]}), optuna.samplers.GridSampler)
    median = studies.pruner("median", 400, 100)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert isinstance(studies.pruner("none", 0, 0), optuna.pruners.NopPruner)


def test_storages_by_url_and_their_errors():
    with pytest.raises(ConfigError, match="is SQLite, which several processes cannot share safely"):
        studies.open_storage("sqlite:///optuna.db", workers=2)
    assert isinstance(studies.open_storage("sqlite:///optuna.db"), optuna.storages.RDBStorage)
    with pytest.raises(ConfigError, match=r"cannot reach sweep.storage=postgresql\+psycopg://nobody@127.0.0.1:1/none"):
        studies.open_storage("postgresql://nobody@127.0.0.1:1/none")


def test_a_study_is_created_then_loaded_and_keeps_its_direction(journal):
    first, created = studies.create_or_load(
        journal, "s", "maximize", studies.sampler("random", 0), studies.pruner("none", 0, 0)
    )
    again, created_again = studies.create_or_load(journal, "s", "maximize", None, None)
    assert (created, created_again) == (True, False) and again.study_name == "s"
    with pytest.raises(ConfigError, match="study 's' exists and is to maximize; sweep.direction=minimize needs"):
        studies.create_or_load(journal, "s", "minimize", None, None)


def test_a_heartbeat_writes_the_time_into_its_trial_until_closed(journal):
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    trial = study.ask()
    identity = studies.trial_id(journal, study, trial.number)
    with studies.Heartbeat(journal, identity, interval=0.01):
        deadline = time.monotonic() + 60
        while studies.HEARTBEAT not in journal.get_trial_system_attrs(identity):  # the first beat
            assert time.monotonic() < deadline
    beat = journal.get_trial_system_attrs(identity)[studies.HEARTBEAT]
    assert abs(beat - time.time()) < 60
    study.tell(trial, 1.0)


def running(journal, study, process, started_seconds_ago=0.0):
    """A RUNNING trial recorded as run by `process`, started that long ago; its storage id."""
    start = datetime.datetime.now() - datetime.timedelta(seconds=started_seconds_ago)
    trial = study.ask()
    identity = studies.trial_id(journal, study, trial.number)
    studies.take(journal, identity)
    journal.set_trial_user_attr(identity, studies.PROCESS, process)
    if started_seconds_ago:  # Optuna records the start itself; an older start stands for a long-silent trial
        frozen = journal.get_trial(identity)
        study.tell(trial, state=TrialState.FAIL)
        old = optuna.trial.FrozenTrial(
            number=-1,
            state=TrialState.RUNNING,
            value=None,
            datetime_start=start,
            datetime_complete=None,
            params={},
            distributions={},
            user_attrs=dict(frozen.user_attrs),
            system_attrs={},
            intermediate_values={},
            trial_id=-1,
        )
        study.add_trial(old)
        identity = studies.trial_id(journal, study, trial.number + 1)
    return identity


def gone_process():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{processes.this_process().rpartition(':')[0]}:{child.pid}"


def test_a_trial_whose_process_on_this_machine_is_gone_is_lost_at_once(journal):
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    dead = gone_process()
    running(journal, study, dead)
    running(journal, study, processes.this_process())  # alive, beating: left alone
    lost = studies.lost_trials(study.get_trials(), interval=30)
    assert [(t.number, why) for t, why in lost] == [(0, f"its process {dead.rpartition(':')[2]} is gone")]


def test_a_trial_of_another_machine_is_lost_when_its_heartbeat_stopped_past_the_grace(journal):
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    running(journal, study, "elsewhere:1", started_seconds_ago=100)
    assert studies.lost_trials(study.get_trials(), interval=40) == []  # 100 s < 3 x 40 s
    lost = studies.lost_trials(study.get_trials(), interval=10)
    assert [why for _, why in lost] == ["its heartbeat stopped (worker elsewhere:1)"]


def test_a_lost_trial_goes_back_to_the_queue_and_the_next_ask_continues_the_same_trial(journal):
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    identity = running(journal, study, gone_process())
    journal.set_trial_param(identity, "x", 0.25, optuna.distributions.FloatDistribution(0, 1))
    ((lost, why),) = studies.lost_trials(study.get_trials(), interval=30)
    assert studies.requeue(journal, study, lost, why, retries=2) == 1
    assert journal.get_trial(identity).state == TrialState.WAITING
    assert studies.owner(journal, identity) == ""  # a worker thought lost that comes back sees it is not its own
    assert studies.requeue(journal, study, lost, why, retries=2) == 0  # changed since it was read: left alone
    again = study.ask()  # Optuna pops the queued trial: the same trial, its drawn values kept
    assert again.number == 0 and again.suggest_float("x", 0, 1) == 0.25
    assert again.user_attrs[studies.LOSSES] == 1 and again.user_attrs[studies.LOST].endswith(why)
    studies.take(journal, identity)
    assert studies.owner(journal, identity) == processes.this_process()


def test_a_trial_that_keeps_losing_its_worker_ends_fail_after_the_retries(journal):
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    identity = running(journal, study, gone_process())
    for losses in (1, 2):
        ((lost, why),) = studies.lost_trials(study.get_trials(), interval=30)
        assert studies.requeue(journal, study, lost, why, retries=1) == losses
        if losses == 1:  # taken again, and its next worker dies too
            assert study.ask().number == 0
            journal.set_trial_user_attr(identity, studies.PROCESS, gone_process())
    assert (
        journal.get_trial(identity).state == TrialState.FAIL
        and journal.get_trial(identity).user_attrs[studies.LOSSES] == 2
    )


def test_a_trial_its_worker_released_waits_in_the_queue_for_the_next_ask(journal):
    """A worker stopped by a signal (Ctrl-C, scancel, Slurm's warning) releases its trial with a checkpoint."""
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    identity = running(journal, study, processes.this_process())
    studies.release(journal, identity)
    assert journal.get_trial(identity).state == TrialState.WAITING and studies.lost_trials(study.get_trials(), 30) == []
    assert study.ask().number == 0


@pytest.mark.parametrize("kind", ["journal", "database"])
def test_only_one_of_several_workers_takes_a_queued_trial(kind, workdir):
    """The atomic pop the takeover relies on: each storage (its own handle per worker, as processes have) lets
    one worker turn a WAITING trial RUNNING; the others are refused."""
    url = "sweeps/optuna.journal" if kind == "journal" else f"sqlite:///{workdir / 'optuna.db'}"
    handles = [studies.open_storage(url) for _ in range(3)]
    study, _ = studies.create_or_load(handles[0], "s", "maximize", None, None)
    identity = running(handles[0], study, gone_process())
    ((lost, why),) = studies.lost_trials(study.get_trials(), interval=30)
    studies.requeue(handles[0], study, lost, why, retries=2)
    won = [handle.set_trial_state_values(identity, TrialState.RUNNING) for handle in handles]
    assert won == [True, False, False]


def test_the_optuna_storage_methods_called_keep_their_signatures():
    """studies.py calls Optuna's storage interface (BaseStorage), which Optuna keeps for storage implementers: a
    change of these methods in a new Optuna release fails here, not in a user's sweep."""
    import inspect

    for cls in (
        optuna.storages.BaseStorage,
        optuna.storages.JournalStorage,
        optuna.storages.RDBStorage,
        optuna.storages.InMemoryStorage,
    ):
        for name, parameters in studies.STORAGE_METHODS.items():
            method = getattr(cls, name, None)
            assert callable(method), f"{cls.__name__}.{name} is gone"
            assert tuple(inspect.signature(method).parameters)[1:] == parameters, f"{cls.__name__}.{name}"
