"""A sweep outlives its workers (real processes, real signals): a local worker killed mid-trial is replaced and
its trial continued as the same trial and run; a trial that kills every worker that takes it ends FAIL after
sweep.retries; the sweep's own process killed leaves its workers stopping with checkpoints, and the same command
again ends the sweep; a truncated newest checkpoint is skipped for the one before it. Final states are read back
through MLflow's client and Optuna's storage."""

import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import ML, runs

from antelope.cli import main
from antelope.sweeps import studies
from antelope.sweeps.seed_queue import INDEX, TRIAL

MODELS = Path(__file__).parent / "models.py"
pytestmark = pytest.mark.slow
STEPS = ["train_steps=400", "log_per_steps=20", "evaluate_per_steps=200", "save_per_steps=50", "sweep.pruner=none"]


def start(*arguments):
    return subprocess.Popen(
        [ML, *arguments], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )


def wait_for_line(process, pattern, timeout=300):
    """Read the sweep's stderr (its workers write there too) until a line matches `pattern`; the match."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(pattern, line)
        if found:
            return found
        assert line or process.poll() is None, "ml exited early"
    raise AssertionError(f"no line like {pattern!r} within {timeout} s")


def wait_until_gone(pid, timeout=120):
    """Until process `pid` (not a child of this one) has exited: its pidfd turns readable then."""
    try:
        descriptor = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        poller = select.poll()
        poller.register(descriptor, select.POLLIN)
        assert poller.poll(timeout * 1000), f"process {pid} still runs after {timeout} s"
    finally:
        os.close(descriptor)


def study_of(name):
    return optuna.load_study(study_name=name, storage=studies.open_storage("optuna.journal"))


def worker_of(study_name, number, seed=None):
    """The pid of the worker process running trial `number` (or its seed `seed`, sweep.seeds), as the study
    records it."""
    trial = study_of(study_name).trials[number]
    if seed is not None:
        [trial] = [
            t
            for t in study_of(f"{study_name}:seeds").trials
            if t.user_attrs[TRIAL] == number and t.user_attrs[INDEX] == seed
        ]
    return int(trial.user_attrs[studies.PROCESS].rpartition(":")[2])


def final_states(experiment="Digits"):
    table = runs(experiment)
    parent = table[table["tags.antelope.role"] == "sweep"].iloc[0]
    trials = table[table["tags.antelope.trial"].notna()]
    return parent, trials, table


def kill_its_worker(sweep, line, seed=None):
    """SIGKILL the worker of the trial (or of its seed `seed`) whose progress `line` (a pattern, the trial's number
    its group) the sweep prints first; waits for the sweep to end, which it must do well. (trial, study name,
    victim's pid, stderr)."""
    trial = int(wait_for_line(sweep, line)[1])
    name = runs("Digits").query(f"`tags.antelope.trial` == '{trial}'").iloc[0]["tags.antelope.sweep"]
    victim = worker_of(name, trial, seed)
    os.kill(victim, signal.SIGKILL)
    _, rest = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, rest
    return trial, name, victim, rest


def test_a_worker_killed_mid_trial_is_replaced_and_its_trial_continued_as_the_same_trial_and_run():
    sweep = start(
        "-m",
        f"model={MODELS}:Slow",
        "optim.lr=choice(0.001,0.003,0.01,0.03)",
        "sweep.trials=4",
        "sweep.workers=2",
        "sweep.sampler=grid",
        *STEPS,
    )
    trial, name, victim, rest = kill_its_worker(sweep, r"^trial (\d+)  step 120/")
    said = [line for line in rest.splitlines() if f"(pid {victim})" in line and "lost its worker:" in line[:40]]
    assert len(said) == 1 and re.match(
        rf"ml: trial {trial} lost its worker: worker \d \(pid {victim}\) was killed by signal SIGKILL; the next "
        rf"free worker continues it from its checkpoint$",
        said[0],
    ), said
    resumed = re.search(r"resumed at step (\d+)", rest)  # its newest checkpoint when killed: step 100 or a later one
    assert f"ml: trial {trial} continues from run " in rest and resumed and int(resumed[1]) >= 100
    parent, trials, table = final_states()
    assert parent["status"] == "FINISHED" and "RUNNING" not in set(table["status"])
    assert sorted(trials["tags.antelope.trial"]) == ["0", "1", "2", "3"]  # one run per trial
    assert set(trials["tags.antelope.trial_state"]) == {"COMPLETE"}
    again = trials[trials["tags.antelope.trial"] == str(trial)].iloc[0]
    assert again["tags.resume_count"] == "1" and again["status"] == "FINISHED"
    study = study_of(name)
    assert [t.state.name for t in studies.counted(study.trials)] == ["COMPLETE"] * 4  # surplus asks left out
    assert study.trials[trial].user_attrs[studies.LOSSES] == 1
    assert study.trials[trial].user_attrs["mlflow_run_id"] == again["run_id"]


def test_a_worker_killed_in_a_trials_second_seed_is_replaced_and_that_seed_continued_in_its_run():
    """sweep.seeds=2: the lost worker's seed (run by the trial's own worker or by another, side by side) goes back
    to the queue and the next free worker resumes its run from its checkpoint; the first seed's finished run is
    kept: one run per seed, under one run of the trial."""
    steps = [s for s in STEPS if not s.startswith(("train_steps=", "evaluate_per_steps="))]
    sweep = start(
        "-m",
        f"model={MODELS}:Slow",
        "optim.lr=choice(0.001,0.01)",
        "sweep.trials=2",
        "sweep.workers=2",
        "sweep.sampler=grid",
        "sweep.seeds=2",
        "train_steps=200",
        "evaluate_per_steps=100",
        *steps,
    )
    trial, name, victim, rest = kill_its_worker(sweep, r"^trial (\d+) seed 1  step 120/", seed=1)
    said = [line for line in rest.splitlines() if f"(pid {victim})" in line and "lost its worker:" in line[:40]]
    assert re.match(
        rf"ml: trial {trial} seed 1 lost its worker: worker \d \(pid {victim}\) was killed by signal SIGKILL; the "
        rf"next free worker continues it from its checkpoint$",
        said[0],
    ), said
    assert f"ml: trial {trial} seed 1 continues from run " in rest
    parent, trials, table = final_states()
    assert parent["status"] == "FINISHED" and "RUNNING" not in set(table["status"])
    assert sorted(trials["tags.antelope.trial"]) == ["0", "1"] and set(trials["status"]) == {"FINISHED"}
    trial_run = trials[trials["tags.antelope.trial"] == str(trial)].iloc[0]
    seeds = table[table["tags.mlflow.parentRunId"] == trial_run["run_id"]].sort_values("tags.antelope.seed_index")
    assert list(seeds["status"]) == ["FINISHED", "FINISHED"]  # two runs: neither started over
    assert list(seeds["tags.resume_count"].fillna("0")) == ["0", "1"]  # the first kept, the second resumed
    history = mlflow.MlflowClient().get_metric_history(seeds.iloc[1]["run_id"], "train/loss")
    steps_logged = [m.step for m in history]
    assert steps_logged == sorted(set(steps_logged)) and steps_logged[-1] == 200  # no step recorded twice
    study = study_of(name)
    assert [t.state.name for t in studies.counted(study.trials)] == ["COMPLETE"] * 2  # surplus asks left out
    assert study.trials[trial].value == pytest.approx(seeds["metrics.kept/accuracy"].mean())
    assert study.trials[trial].user_attrs["mlflow_run_id"] == trial_run["run_id"]
    seeds_study = study_of(f"{name}:seeds")
    assert [t.state.name for t in seeds_study.trials] == ["COMPLETE"] * 4
    [lost] = [t for t in seeds_study.trials if t.user_attrs.get(studies.LOSSES)]
    assert (lost.user_attrs[TRIAL], lost.user_attrs[INDEX], lost.user_attrs[studies.LOSSES]) == (trial, 1, 1)
    assert lost.user_attrs["mlflow_run_id"] == seeds.iloc[1]["run_id"]


def test_a_trial_that_kills_every_worker_ends_fail_after_the_retries_and_the_sweep_goes_on(capfd, workdir):
    (workdir / "first.yaml").write_text("- {model.poison: 1}\n- {model.poison: 0}\n")  # one poisoned, one not
    assert (
        main(
            [
                "-m",
                f"model={MODELS}:Poison",
                "model.poison=choice(0,1)",
                "sweep.enqueue=first.yaml",
                "sweep.trials=2",
                "sweep.workers=2",
                "sweep.retries=1",
                "train_steps=60",
                "evaluate_per_steps=30",
                "sweep.pruner=none",
            ]
        )
        == 0
    )
    err = capfd.readouterr().err  # the sweep's own lines and its workers'
    deaths = [
        line for line in err.splitlines() if "was killed by signal SIGKILL" in line and "continues from" not in line
    ]
    assert len(deaths) == 2, err  # taken once more after the first death (retries=1), failed at the second
    assert "the next free worker continues it" in deaths[0]
    assert re.search(
        r"trial \d failed: it lost its worker 2 times, the last because worker \d \(pid \d+\) was killed by "
        r"signal SIGKILL; after sweep.retries=1 takeovers it is failed; the sweep goes on",
        deaths[1],
    )
    parent, trials, table = final_states()
    poisoned = trials[trials["params.model.poison"] == "1"].iloc[0]
    healthy = trials[trials["params.model.poison"] == "0"].iloc[0]
    assert (poisoned["status"], poisoned["tags.antelope.trial_state"]) == ("FAILED", "FAIL")
    assert "it lost its worker 2 times" in poisoned["tags.antelope.failure"]
    assert (healthy["status"], healthy["tags.antelope.trial_state"]) == ("FINISHED", "COMPLETE")
    assert parent["status"] == "FINISHED" and "RUNNING" not in set(table["status"]) and len(trials) == 2
    study = study_of(parent["tags.antelope.sweep"])
    states = {t.params["model.poison"]: t for t in studies.counted(study.trials)}
    assert states[1].state.name == "FAIL" and states[1].user_attrs[studies.LOSSES] == 2
    assert states[0].state.name == "COMPLETE"


def test_the_sweeps_process_killed_leaves_its_workers_stopping_with_checkpoints_and_the_same_command_ends_it(capfd):
    command = [
        "-m",
        f"model={MODELS}:Slow",
        "optim.lr=choice(0.001,0.01)",
        "sweep.trials=2",
        "sweep.workers=2",
        "sweep.sampler=grid",
        *STEPS,
    ]
    sweep = start(*command)
    steps = {}  # both trials past their first checkpoint, in their training loops (where a stop is a checkpoint)
    while len(steps) < 2 or min(steps.values()) < 60:
        found = wait_for_line(sweep, r"^trial (\d+)  step (\d+)/")
        steps[int(found[1])] = int(found[2])
    trial = min(steps)
    name = runs("Digits").query(f"`tags.antelope.trial` == '{trial}'").iloc[0]["tags.antelope.sweep"]
    running = [
        int(t.user_attrs[studies.PROCESS].rpartition(":")[2])
        for t in study_of(name).trials
        if t.state.name == "RUNNING"
    ]
    sweep.kill()  # kill -9 of `ml -m`: its workers are left without it
    sweep.wait(timeout=30)
    for pid in running:
        wait_until_gone(pid)  # each stopped as on SIGTERM: its trial checkpointed and back in the queue
    assert {t.state.name for t in study_of(name).trials} <= {"WAITING", "COMPLETE"}
    _, trials, _ = final_states()
    assert set(trials["status"]) <= {"KILLED", "FINISHED"}  # no run left RUNNING by a worker
    assert main(command) == 0  # the same command again
    assert "resumed at step" in capfd.readouterr().err  # a worker's line
    parent, trials, table = final_states()
    assert parent["status"] == "FINISHED" and "RUNNING" not in set(table["status"])
    assert sorted(trials["tags.antelope.trial"]) == ["0", "1"] and set(trials["tags.antelope.trial_state"]) == {
        "COMPLETE"
    }
    assert [t.state.name for t in study_of(name).trials] == ["COMPLETE", "COMPLETE"]


def test_a_truncated_newest_checkpoint_is_skipped_for_the_one_before_it(capsys):
    assert (
        main(
            [
                f"model={MODELS}:Model",
                "train_steps=100",
                "save_per_steps=50",
                "keep_checkpoints=2",
                "evaluate_per_steps=50",
            ]
        )
        == 0
    )
    run_id = runs("Digits")["run_id"][0]
    folder = Path(mlflow.MlflowClient().get_run(run_id).info.artifact_uri) / "checkpoints"
    newest = folder / "step_000000100.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # cut short, as a full disk or a partial upload leaves it
    capsys.readouterr()
    assert main([f"resume={run_id}"]) == 0
    err = capsys.readouterr().err
    assert re.search(
        rf"ml: skipped checkpoints/step_000000100.pt of run {run_id}: cannot load checkpoint "
        r".*step_000000100.pt: \w+Error: .*; the one before it",
        err,
    )
    assert f"run {run_id} resumed at step 50" in err
    assert mlflow.MlflowClient().get_run(run_id).info.status == "FINISHED"
    older = folder / "step_000000050.pt"  # the resume wrote step 100 anew; now both are cut
    for path in (folder / "step_000000100.pt", older):
        path.write_bytes(path.read_bytes()[:1000])
    assert main([f"resume={run_id}"]) == 2
    err = capsys.readouterr().err
    assert f"ml: error: run {run_id} has no readable checkpoint: cannot load checkpoint" in err
    assert mlflow.MlflowClient().get_run(run_id).info.status == "FINISHED"  # as the resume found it


def test_ctrl_c_stops_every_worker_with_a_checkpoint_and_the_same_command_ends_the_sweep(capfd):
    """Ctrl-C reaches the whole foreground process group: the sweep's process and its workers. Each worker
    finishes its step, saves a checkpoint and puts its trial back in the queue; the sweep's process waits for
    them, marks its parent run KILLED and exits 130, as before workers were supervised."""
    command = [
        "-m",
        f"model={MODELS}:Slow",
        "optim.lr=choice(0.001,0.01)",
        "sweep.trials=2",
        "sweep.workers=2",
        "sweep.sampler=grid",
        *STEPS,
    ]
    sweep = subprocess.Popen(
        [ML, *command],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        start_new_session=True,
    )  # its own group, as a terminal's job
    wait_for_line(sweep, r"^trial \d+  step 120/")
    os.killpg(sweep.pid, signal.SIGINT)
    _, rest = sweep.communicate(timeout=300)
    assert sweep.returncode == 130, rest
    assert "ml: interrupted" in rest and "run the same command again to continue the sweep" in rest
    parent, trials, _ = final_states()
    assert parent["status"] == "KILLED" and set(trials["status"]) <= {"KILLED", "FINISHED"}
    name = parent["tags.antelope.sweep"]
    assert {t.state.name for t in study_of(name).trials} <= {"WAITING", "COMPLETE"}
    assert not any("killed by signal" in line for line in rest.splitlines())  # a stop, not a death
    assert main(command) == 0
    assert "resumed at step" in capfd.readouterr().err
    parent, trials, table = final_states()
    assert parent["status"] == "FINISHED" and "RUNNING" not in set(table["status"])
    assert set(trials["tags.antelope.trial_state"]) == {"COMPLETE"} and len(trials) == 2
