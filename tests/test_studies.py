"""antelope.studies: Optuna storages, samplers and pruners by name, heartbeats and the claim of a lost trial,
on a real journal file (no training, no MLflow run)."""
import datetime
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from antelope import processes, studies
from antelope.errors import ConfigError


@pytest.fixture
def journal(workdir):
    storage = studies.open_storage("sweeps/optuna.journal")
    assert (workdir / "sweeps" / "optuna.journal").exists()
    return storage


def test_names_of_samplers_and_pruners_and_the_classes_they_build():
    assert [studies.choose("sampler", n) for n in ("TPE", "TPESampler", "cma", "random")] == \
           ["tpe", "tpe", "cmaes", "random"]
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
    first, created = studies.create_or_load(journal, "s", "maximize", studies.sampler("random", 0),
                                            studies.pruner("none", 0, 0))
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
    """A RUNNING trial recorded as run by `process`, started that long ago."""
    start = datetime.datetime.now() - datetime.timedelta(seconds=started_seconds_ago)
    trial = study.ask()
    identity = studies.trial_id(journal, study, trial.number)
    journal.set_trial_user_attr(identity, studies.PROCESS, process)
    if started_seconds_ago:  # Optuna records the start itself; an older start stands for a long-silent trial
        frozen = journal.get_trial(identity)
        study.tell(trial, state=TrialState.FAIL)
        old = optuna.trial.FrozenTrial(number=-1, state=TrialState.RUNNING, value=None, datetime_start=start,
                                       datetime_complete=None, params={}, distributions={},
                                       user_attrs=dict(frozen.user_attrs), system_attrs={}, intermediate_values={},
                                       trial_id=-1)
        study.add_trial(old)
        identity = studies.trial_id(journal, study, trial.number + 1)
    return identity


def test_a_trial_whose_process_on_this_machine_is_gone_is_claimed_at_once(journal):
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    running(journal, study, f"{processes.this_process().rpartition(':')[0]}:{child.pid}")
    running(journal, study, processes.this_process())  # alive, beating: left alone
    claimed, why = studies.claim_lost_trial(study, journal, interval=30)
    assert claimed.number == 0 and why == f"its process {child.pid} is gone"
    assert studies.owner(journal, studies.trial_id(journal, study, 0)) == processes.this_process()
    assert studies.claim_lost_trial(study, journal, interval=30) == (None, None)  # the other one is alive


def test_a_trial_of_another_machine_is_lost_when_its_heartbeat_stopped_past_the_grace(journal):
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    identity = running(journal, study, "elsewhere:1", started_seconds_ago=100)
    assert studies.claim_lost_trial(study, journal, interval=40) == (None, None)  # 100 s < 3 x 40 s
    journal.set_trial_user_attr(identity, studies.CLAIM, f"other:2@{time.time()}")
    assert studies.claim_lost_trial(study, journal, interval=10) == (None, None)  # another worker claims it now
    journal.set_trial_user_attr(identity, studies.CLAIM, f"other:2@{time.time() - 100}")
    claimed, why = studies.claim_lost_trial(study, journal, interval=10)
    assert why == "its heartbeat stopped (worker elsewhere:1)" and claimed.number == study.trials[-1].number
    assert studies.owner(journal, identity) == processes.this_process()
    assert studies.claim_lost_trial(study, journal, interval=10) == (None, None)  # the claim is a sign of life


def test_a_trial_its_worker_released_is_claimed_at_once_and_only_until_claimed(journal):
    """A worker stopped by a signal (Ctrl-C, scancel, Slurm's warning) releases its trial with a checkpoint."""
    study, _ = studies.create_or_load(journal, "s", "maximize", None, None)
    identity = running(journal, study, "elsewhere:1")  # alive as far as anyone can tell: beating just now
    assert studies.claim_lost_trial(study, journal, interval=30) == (None, None)
    journal.set_trial_user_attr(identity, studies.RELEASED, "other:2")  # released by a worker it no longer has
    assert studies.claim_lost_trial(study, journal, interval=30) == (None, None)
    journal.set_trial_user_attr(identity, studies.PROCESS, processes.this_process())
    studies.release(journal, identity)  # by the worker that runs it
    claimed, why = studies.claim_lost_trial(study, journal, interval=30)
    assert claimed.number == 0 and why == f"its worker {processes.this_process()} stopped it on a signal, with a " \
                                          f"checkpoint"
    journal.set_trial_user_attr(identity, studies.PROCESS, "elsewhere:3")  # its new worker runs it
    assert studies.claim_lost_trial(study, journal, interval=30) == (None, None)
