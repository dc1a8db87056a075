"""Real processes, real signals: a run stopped by SIGTERM or kill -9, or a sweep worker killed or paused, is
taken up to the end by another process: the test's own, through the console's entry point (cli.main), as
the next `ml` command on the same machine would."""

import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import ML, runs

from antelope.cli import main

MODELS = Path(__file__).parent / "models.py"
pytestmark = pytest.mark.slow
LONG = [f"model={MODELS}:Slow", "train_steps=600", "log_per_steps=20", "evaluate_per_steps=200", "save_per_steps=50"]


def _start():
    return subprocess.Popen(
        [ML, *LONG], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def _wait_for_step(process, step, timeout=120):
    """Read the plain progress lines until `step` is reached; returns the run id."""
    deadline, run_id = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if line.startswith("ml: run ") and "started" in line:
            run_id = line.split()[2]
        if line.startswith(f"step {step}/") or re.match(rf"trial \d+  step {step}/", line):  # a sweep's say which
            return run_id
        assert line or process.poll() is None, "ml exited early"
    raise AssertionError(f"no step {step} within {timeout} s")


def test_sigterm_ends_the_run_killed_with_a_checkpoint_and_resume_completes_it(capsys):
    """(SIGINT, Ctrl-C, takes the same path: test_ml.py and test_trainer.py send it in-process.)"""
    process = _start()
    run_id = _wait_for_step(process, 120)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "the run is marked KILLED" in stderr and "Traceback" not in stderr
    client = mlflow.MlflowClient()
    assert client.get_run(run_id).info.status == "KILLED"
    saved = os.listdir(client.get_run(run_id).info.artifact_uri + "/checkpoints")
    stopped_at = max(int(name[5:14]) for name in saved)
    assert stopped_at >= 120  # the step where the signal arrived, not only the last periodic one

    assert main([f"resume={run_id}"]) == 0
    assert f"resumed at step {stopped_at}" in capsys.readouterr().err
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["resume_count"] == "1"
    steps = [m.step for m in client.get_metric_history(run_id, "eval/accuracy")]
    assert max(steps) == 600 and 200 in steps
    assert len(runs()) == 1  # the same run, not a new one


def test_kill_9_leaves_a_stale_run_the_next_run_closes_and_resume_completes(capsys):
    process = _start()
    run_id = _wait_for_step(process, 160)
    process.kill()  # SIGKILL: no handler runs, the run is left RUNNING
    process.wait(timeout=30)
    client = mlflow.MlflowClient()
    assert client.get_run(run_id).info.status == "RUNNING"
    assert main(["train_steps=20"]) == 0  # the next run in the experiment, on this machine, finds it stale
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["antelope.stale"] == "process gone"
    assert main([f"resume={run_id}"]) == 0
    assert "resumed at step 150" in capsys.readouterr().err  # the last periodic checkpoint before the kill
    assert client.get_run(run_id).info.status == "FINISHED"
    assert "RUNNING" not in set(runs()["status"])


SWEEP = [
    ML,
    "-m",
    f"model={MODELS}:Slow",
    "optim.lr=tag(log, interval(1e-3, 1e-1))",
    "sweep.trials=2",
    "sweep.pruner=none",
    "train_steps=400",
    "log_per_steps=20",
    "evaluate_per_steps=200",
    "save_per_steps=50",
]


def _kill_sweep_mid_trial(command, experiment="Digits"):
    """Start a sweep, kill -9 it once trial 0 is past its checkpoint at step 100; trial 0's child run."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    _wait_for_step(process, 120)
    process.kill()
    process.wait(timeout=30)
    child = runs(experiment).query("`tags.antelope.trial` == '0'").iloc[0]
    assert child["status"] == "RUNNING"
    return child


def test_a_sweep_trial_whose_process_died_continues_as_the_same_trial_and_run_in_the_envs_experiment(capsys):
    """kill -9 of an RL sweep's worker mid-trial; the same command again takes the trial over at once (its
    process is gone), as the same trial and child run, in the experiment of the env (CartPole-v1)."""
    command = [
        ML,
        "-m",
        "env=CartPole-v1",
        f"model={MODELS}:SlowDQN",
        "model.lr=tag(log, interval(1e-4, 1e-2))",
        "sweep.trials=2",
        "sweep.pruner=none",
        "train_steps=400",
        "random_steps=50",
        "log_per_steps=20",
        "evaluate_per_steps=200",
        "evaluate_episodes=1",
        "save_per_steps=50",
    ]
    child = _kill_sweep_mid_trial(command, experiment="CartPole-v1")
    assert main(command[1:]) == 0  # the same sweep command again, in this process
    err = capsys.readouterr().err
    assert "ml: trial 0 lost its worker: its process " in err and "resumed at step 100" in err
    assert f"ml: trial 0 continues from run {child['run_id']} (it lost its worker: its process " in err
    table = runs("CartPole-v1")  # the parent run and both trials: one experiment, the env's
    assert list(table["tags.antelope.role"].fillna("trial")) == ["sweep", "trial", "trial"]
    trials = table[table["tags.antelope.trial"].notna()]
    assert sorted(trials["tags.antelope.trial"]) == ["0", "1"]
    assert set(trials["tags.antelope.trial_state"]) == {"COMPLETE"}
    again = trials.set_index("tags.antelope.trial").loc["0"]
    assert again["run_id"] == child["run_id"] and again["tags.resume_count"] == "1"
    assert "RUNNING" not in set(table["status"]) and "Digits" not in [e.name for e in mlflow.search_experiments()]
    study = optuna.load_study(
        study_name=child["tags.antelope.sweep"],
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("optuna.journal")),
    )
    assert [(t.number, t.state.name) for t in study.trials] == [(0, "COMPLETE"), (1, "COMPLETE")]


@pytest.mark.parametrize("storage", ["journal", "postgresql"])
def test_a_sweep_trial_of_a_lost_machine_is_found_by_its_heartbeat_and_continued(storage, postgres, capsys):
    """kill -9 of the worker, then its records made to name another machine: no pid can be checked, so
    only the stopped heartbeat tells that the trial is lost. The next worker takes it over."""
    from antelope.sweeps.studies import open_storage, trial_id

    url = postgres("optuna") if storage == "postgresql" else os.path.abspath("optuna.journal")
    command = SWEEP + ["sweep.heartbeat=1", f"sweep.storage={url}"]
    child = _kill_sweep_mid_trial(command)
    storage = open_storage(url)
    study = optuna.load_study(study_name=child["tags.antelope.sweep"], storage=storage)
    [trial] = study.trials
    assert trial.state.name == "RUNNING"
    storage.set_trial_user_attr(trial_id(storage, study, trial.number), "process", "lost-machine:12345")
    mlflow.MlflowClient().set_tag(child["run_id"], "antelope.host", "lost-machine")

    assert main(command[1:]) == 0  # another worker: this process
    err = capsys.readouterr().err
    assert "ml: trial 0 lost its worker: its heartbeat stopped (worker lost-machine:12345)" in err
    assert f"trial 0 continues from run {child['run_id']}" in err and "resumed at step 100" in err
    table = runs("Digits")
    trials = table[table["tags.antelope.trial"].notna()]
    assert sorted(trials["tags.antelope.trial"]) == ["0", "1"]  # the same trial continued, none added
    again = trials[trials["tags.antelope.trial"] == "0"].iloc[0]
    assert again["run_id"] == child["run_id"] and again["tags.resume_count"] == "1"
    assert set(trials["tags.antelope.trial_state"]) == {"COMPLETE"} and "RUNNING" not in set(table["status"])
    study = optuna.load_study(study_name=child["tags.antelope.sweep"], storage=open_storage(url))
    assert [(t.number, t.state.name) for t in study.trials] == [(0, "COMPLETE"), (1, "COMPLETE")]
    assert study.trials[0].user_attrs["mlflow_run_id"] == child["run_id"]


def _wait_until_silent(run_id, grace=3.0, timeout=120):
    """Until trial 0 of the run's sweep has shown no sign of life (heartbeat, start, claim) for `grace` s."""
    from antelope.sweeps.studies import HEARTBEAT

    study = runs("Digits").query(f"run_id == '{run_id}'").iloc[0]["tags.antelope.sweep"]
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("optuna.journal"))
    deadline = time.monotonic() + timeout
    while True:
        [trial] = optuna.load_study(study_name=study, storage=storage).trials
        last = max(trial.system_attrs.get(HEARTBEAT, 0), trial.datetime_start.timestamp())
        if time.time() - last > grace:
            return
        assert time.monotonic() < deadline, "the paused worker's trial kept beating"
        time.sleep(0.2)


def test_a_paused_worker_whose_trial_was_taken_over_stops_it_and_leaves_its_run(capsys):
    """A worker paused (SIGSTOP) past its heartbeat's grace: another worker (this process) takes its trial
    over and ends the sweep. When the first wakes (SIGCONT) it stops that trial before its next evaluation
    or checkpoint and leaves the run to the other."""
    command = SWEEP + ["sweep.heartbeat=1"]
    paused = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    run_id = _wait_for_step(paused, 120)
    paused.send_signal(signal.SIGSTOP)
    try:
        _wait_until_silent(run_id)  # past the grace: 3 missed heartbeats of 1 s
        assert main(command[1:]) == 0
    finally:
        paused.send_signal(signal.SIGCONT)
    taken = capsys.readouterr().err
    _, woke = paused.communicate(timeout=300)
    assert paused.returncode == 0, woke
    assert "trial 0 lost its worker: its heartbeat stopped" in taken and f"trial 0 continues from run {run_id}" in taken
    assert f"ml: run {run_id} resumed at step 100" in taken
    assert f"trial 0 was taken over by {socket.gethostname()}:{os.getpid()}" in woke
    assert "this worker stops it at step 150" in woke  # its next checkpoint, which it does not write
    table = runs("Digits")
    trials = table[table["tags.antelope.trial"].notna()]
    assert sorted(trials["tags.antelope.trial"]) == ["0", "1"]  # no trial redone or added
    again = trials[trials["tags.antelope.trial"] == "0"].iloc[0]
    assert again["run_id"] == run_id and again["tags.resume_count"] == "1" and again["status"] == "FINISHED"
    assert set(trials["tags.antelope.trial_state"]) == {"COMPLETE"} and "RUNNING" not in set(table["status"])
    folder = mlflow.MlflowClient().get_run(run_id).info.artifact_uri + "/checkpoints"
    assert sorted(os.listdir(folder)) == ["step_000000350.pt", "step_000000400.pt"]  # the taker's, untouched
    study = optuna.load_study(
        study_name=again["tags.antelope.sweep"],
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("optuna.journal")),
    )
    assert [(t.number, t.state.name) for t in study.trials] == [(0, "COMPLETE"), (1, "COMPLETE")]
