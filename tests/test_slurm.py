"""Sweeps and runs on a real Slurm cluster (tests/slurm.py: one node, started for the session): `ml -m ...
sweep.launcher=slurm` submits worker jobs through submitit and returns; the jobs run every trial once under
one parent run; a job cancelled mid-trial leaves its trial to the other worker, and a job warned by Slurm's
signal (as before its time limit) is requeued and resumes its trial from the checkpoint it saved. `ml ...
launcher=slurm` submits one run as one job of two processes, which Slurm's warning requeues into the same run;
`ml resume=<id> launcher=slurm slurm.wait=true` continues a run stopped here and prints its summary."""

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

import mlflow
import optuna
import pytest
from conftest import ML, run_ml, runs
from test_sweep import parent_and_children

from antelope.sweeps import studies

MODELS = Path(__file__).parent / "models.py"
SLURM = ["sweep.launcher=slurm", "sweep.slurm.cpus=1"]
LONG = [
    f"model={MODELS}:Sleepy",
    "optim.lr=tag(log, interval(1e-3, 1e-1))",
    "sweep.pruner=none",
    "train_steps=400",
    "log_per_steps=10",
    "evaluate_per_steps=200",
    "save_per_steps=20",
]
pytestmark = pytest.mark.slow


def _submitted(done):
    assert done.returncode == 0, done.stderr
    return re.search(r"submitted worker jobs ([\d, ]+) \(", done.stdout).group(1).split(", ")


def _logs(jobs):
    return "\n".join(
        f"--- job {job}:\n" + "".join(p.read_text() for p in Path("slurm", job).glob("*_log.*")) for job in jobs
    )


def _sweep_ends(slurm, jobs):
    """Waits until the worker jobs have left the queue; returns the parent run and its children."""
    slurm.wait_for(lambda: not set(jobs) & set(slurm.jobs()), "the worker jobs to end")
    parent, children = parent_and_children(runs("Digits"))
    assert parent["status"] == "FINISHED", _logs(jobs)
    return parent, children


def _run_reaches(trial, step):
    """The child run of `trial` once its train/loss is recorded at `step` or later; its (run id, job id)."""
    client = mlflow.MlflowClient()

    def reached():
        found = client.search_runs(
            [e.experiment_id for e in client.search_experiments()], f"tags.`antelope.trial` = '{trial}'"
        )
        if (
            found
            and max((m.step for m in client.get_metric_history(found[0].info.run_id, "train/loss")), default=0) >= step
        ):
            return found[0]
        return None

    return reached


def _study(parent):
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("optuna.journal"))
    return optuna.load_study(study_name=parent["tags.antelope.sweep"], storage=storage)


def test_two_worker_jobs_run_every_trial_once_under_one_parent_run_and_the_command_again_attaches(slurm):
    command = [
        "-m",
        f"model={MODELS}:Model",
        "optim.lr=tag(log, interval(1e-3, 1e-1))",
        "sweep.trials=4",
        "sweep.workers=2",
        "train_steps=30",
        "evaluate_per_steps=10",
        "log_per_steps=10",
        *SLURM,
    ]
    done = run_ml(*command)
    jobs = _submitted(done)
    assert len(jobs) == 2 and "the same command again attaches to this sweep" in done.stdout
    parent, children = _sweep_ends(slurm, jobs)
    assert list(children["tags.antelope.trial"]) == ["0", "1", "2", "3"]
    assert set(children["status"]) == {"FINISHED"} and set(children["tags.antelope.trial_state"]) == {"COMPLETE"}
    assert set(children["tags.antelope.slurm.job_id"]) <= set(jobs)
    assert set(children["tags.antelope.slurm.node"]) == {socket.gethostname()}
    assert parent["tags.antelope.slurm.jobs"] == " ".join(jobs) and parent["tags.antelope.launcher"] == "slurm"
    assert [t.state.name for t in studies.counted(_study(parent).trials)] == ["COMPLETE"] * 4
    assert {a.path for a in mlflow.MlflowClient().list_artifacts(parent["run_id"])} >= {"trials.csv", "plots"}

    again = run_ml(*command)  # attaches to the same study and parent run: nothing left to run, its summary
    assert again.returncode == 0, again.stderr
    assert "submitted" not in again.stdout and "sweep " in again.stdout and "4 trials (4 COMPLETE" in again.stdout
    assert parent_and_children(runs("Digits"))[0]["run_id"] == parent["run_id"]
    assert not slurm.jobs()


def test_a_job_cancelled_mid_trial_leaves_its_trial_to_the_other_worker_as_the_same_trial_and_run(slurm):
    jobs = _submitted(run_ml("-m", *LONG, "sweep.trials=2", "sweep.workers=2", *SLURM))
    cancelled = None
    slurm.wait_for(lambda: _run_reaches(0, 60)(), "trial 0 to reach step 60")
    run = _run_reaches(0, 60)()
    cancelled = run.data.tags["antelope.slurm.job_id"]
    subprocess.run(["scancel", cancelled], check=True, timeout=30)
    parent, children = _sweep_ends(slurm, jobs)
    assert list(children["tags.antelope.trial"]) == ["0", "1"]  # one run per trial: none started over
    again = children.set_index("tags.antelope.trial").loc["0"]
    assert again["run_id"] == run.info.run_id and again["status"] == "FINISHED"
    assert again["tags.resume_count"] == "1" and again["tags.antelope.slurm.job_id"] != cancelled
    assert [t.state.name for t in _study(parent).trials] == ["COMPLETE", "COMPLETE"]
    log = _logs([cancelled])
    assert re.search(r"stopped at step \d+; a checkpoint was saved", log), log


def test_a_job_warned_by_slurms_signal_is_requeued_and_resumes_its_trial_from_its_checkpoint(slurm):
    """SIGUSR2 is what Slurm sends `signal_delay_s` before a job's time limit (submitit's --signal)."""
    jobs = _submitted(run_ml("-m", *LONG, "sweep.trials=1", "sweep.workers=1", *SLURM))
    slurm.wait_for(lambda: _run_reaches(0, 60)(), "trial 0 to reach step 60")
    run = _run_reaches(0, 60)()
    subprocess.run(["scancel", "--signal=USR2", jobs[0]], check=True, timeout=30)
    parent, children = _sweep_ends(slurm, jobs)
    assert len(children) == 1
    child = children.iloc[0]
    assert child["run_id"] == run.info.run_id and child["status"] == "FINISHED"
    assert child["tags.resume_count"] == "1" and child["tags.antelope.slurm.job_id"] == jobs[0]  # the same job, again
    steps = [m.step for m in mlflow.MlflowClient().get_metric_history(child["run_id"], "train/loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 400  # resumed where it stopped: no step recorded twice
    log = _logs(jobs)
    assert "requeued" in log.lower() and re.search(r"resumed at step \d+", log), log
    assert [t.state.name for t in _study(parent).trials] == ["COMPLETE"]


def test_a_trial_of_two_seeds_warned_in_its_second_seed_is_requeued_keeping_its_first(slurm):
    """sweep.seeds on Slurm: the job's trial is its seeds' runs one after another; Slurm's warning in the second
    seed requeues the job, which keeps the first seed's finished run and resumes the second's."""
    seeded = [a for a in LONG if not a.startswith(("train_steps=", "evaluate_per_steps="))]
    seeded += ["train_steps=200", "evaluate_per_steps=100", "sweep.seeds=2"]
    jobs = _submitted(run_ml("-m", *seeded, "sweep.trials=1", "sweep.workers=1", *SLURM))
    client = mlflow.MlflowClient()

    def second_seed_at(step):
        found = client.search_runs(
            [e.experiment_id for e in client.search_experiments()], "tags.`antelope.seed_index` = '1'"
        )
        history = client.get_metric_history(found[0].info.run_id, "train/loss") if found else []
        return max((m.step for m in history), default=0) >= step

    slurm.wait_for(lambda: second_seed_at(60), "seed 1 of trial 0 to reach step 60")
    subprocess.run(["scancel", "--signal=USR2", jobs[0]], check=True, timeout=30)
    parent, children = _sweep_ends(slurm, jobs)
    [trial_run] = children["run_id"]  # the trial's run; its seeds' runs under it
    assert children.iloc[0]["status"] == "FINISHED" and children.iloc[0]["tags.antelope.seeds"] == "2"
    table = runs("Digits")
    seeds = table[table["tags.mlflow.parentRunId"] == trial_run].sort_values("tags.antelope.seed_index")
    assert list(seeds["status"]) == ["FINISHED", "FINISHED"]  # two runs: none started over
    assert list(seeds["tags.resume_count"].fillna("0")) == ["0", "1"]  # the first kept, the second resumed
    assert list(seeds["params.seed"]) == ["0", "1"] and set(seeds["tags.antelope.slurm.job_id"]) == {jobs[0]}
    steps = [m.step for m in client.get_metric_history(seeds.iloc[1]["run_id"], "train/loss")]
    assert steps == sorted(set(steps)) and steps[-1] == 200  # resumed where it stopped: no step recorded twice
    [trial] = studies.counted(_study(parent).trials)
    assert trial.state.name == "COMPLETE" and trial.value == pytest.approx(seeds["metrics.kept/accuracy"].mean())
    log = _logs(jobs)
    assert "requeued" in log.lower() and re.search(r"resumed at step \d+", log), log


def test_two_worker_jobs_run_a_trials_seeds_side_by_side(slurm):
    """sweep.seeds with two worker jobs: the job that finds no trial to start takes the trial's waiting seed, so
    the trial's two seeds run one in each job, under the trial's one run."""
    seeded = [a for a in LONG if not a.startswith(("train_steps=", "evaluate_per_steps="))]
    seeded += ["train_steps=100", "evaluate_per_steps=50", "sweep.seeds=2"]
    jobs = _submitted(run_ml("-m", *seeded, "sweep.trials=1", "sweep.workers=2", *SLURM))
    parent, children = _sweep_ends(slurm, jobs)
    [trial_run] = children["run_id"]
    table = runs("Digits")
    seeds = table[table["tags.mlflow.parentRunId"] == trial_run]
    assert sorted(seeds["params.seed"]) == ["0", "1"] and set(seeds["status"]) == {"FINISHED"}
    assert sorted(seeds["tags.antelope.slurm.job_id"]) == sorted(jobs), _logs(jobs)  # one seed in each job
    [trial] = studies.counted(_study(parent).trials)  # a job that asked as the other took the trial: surplus
    assert trial.state.name == "COMPLETE" and trial.value == pytest.approx(seeds["metrics.kept/accuracy"].mean())


def test_a_job_slurm_refuses_is_a_one_line_error_and_leaves_no_run_running(slurm):
    from models import Model

    from antelope import ConfigError, sweep

    with pytest.raises(
        ConfigError,
        match=r"sbatch refused the sweep's worker job: .*invalid partition.*; check "
        r"sweep.slurm.\* \(partition=nowhere, cpus=1",
    ):
        sweep(
            model=Model,
            space={"optim.lr": "interval(0.01, 0.1)"},
            trials=2,
            launcher="slurm",
            slurm={"partition": "nowhere", "cpus": 1},
            train_steps=10,
        )
    assert list(runs("Digits")["status"]) == ["FAILED"]  # the parent run; no trial started
    assert not slurm.jobs()


def test_with_wait_the_console_returns_when_the_jobs_end_with_the_sweeps_summary(slurm):
    done = run_ml(
        "-m",
        f"model={MODELS}:Model",
        "optim.lr=tag(log, interval(1e-3, 1e-1))",
        "sweep.trials=2",
        "train_steps=30",
        "evaluate_per_steps=10",
        "log_per_steps=10",
        "sweep.slurm.wait=true",
        *SLURM,
    )
    jobs = _submitted(done)
    assert f"ml: worker job {jobs[0]} ended" in done.stderr and not slurm.jobs()
    assert "2 trials (2 COMPLETE, 0 PRUNED, 0 FAIL)" in done.stdout and "reproduce the best trial" in done.stdout
    parent, children = parent_and_children(runs("Digits"))
    assert parent["status"] == "FINISHED" and list(children["tags.antelope.trial"]) == ["0", "1"]


RUN = [f"model={MODELS}:Sleepy", "train_steps=200", "log_per_steps=10", "evaluate_per_steps=100", "save_per_steps=20"]


def _steps(run_id, metric="train/loss"):
    return [m.step for m in mlflow.MlflowClient().get_metric_history(run_id, metric)]


def test_a_run_of_two_processes_is_one_job_and_slurms_warning_requeues_it_into_the_same_run(slurm):
    done = run_ml(*RUN, "launcher=slurm", "slurm.cpus=1", "slurm.tasks_per_node=2")
    assert done.returncode == 0, done.stderr
    job, run_id = re.search(r"submitted job (\d+) for run (\w+) \(1 node\(s\) x 2 process\(es\)", done.stdout).groups()
    assert mlflow.MlflowClient().get_run(run_id).info.status in ("SCHEDULED", "RUNNING")  # named before it runs
    slurm.wait_for(lambda: max(_steps(run_id), default=0) >= 60, "the run to reach step 60")
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
    slurm.wait_for(lambda: job not in slurm.jobs(), "the job to end")
    run = mlflow.MlflowClient().get_run(run_id)
    tags = run.data.tags
    assert run.info.status == "FINISHED", _logs([job])
    assert tags["antelope.processes"] == "2" and tags["antelope.slurm.job_id"] == job  # one run, both processes
    assert tags["antelope.slurm.nodes"] == socket.gethostname() and tags["resume_count"] == "1"
    assert run.data.params["batch_size"] == "64"  # the global batch: 32 a process
    steps = _steps(run_id)
    assert steps == sorted(set(steps)) and steps[-1] == 200  # requeued into the same run: no step twice
    log = _logs([job])
    assert "requeued" in log.lower() and re.search(r"resumed at step \d+", log), log
    assert len(runs("Digits")) == 1


def test_a_run_whose_job_is_cancelled_before_it_starts_ends_killed_rather_than_scheduled(slurm):
    """A job held in the queue (sbatch --begin an hour from now), then cancelled: nothing will start its run, so
    `ml runs` (and any run's start) closes it, KILLED with why; while the job waits, the run is left SCHEDULED."""
    from antelope import runs as antelope_runs
    from antelope.processes import job_left

    done = run_ml(*RUN, "launcher=slurm", "slurm.cpus=1", "slurm.sbatch={begin: 'now+3600'}")
    assert done.returncode == 0, done.stderr
    job, run_id = re.search(r"submitted job (\d+) for run (\w+)", done.stdout).groups()
    assert slurm.jobs()[job] == "PENDING" and not job_left(job)
    assert antelope_runs("Digits")["status"].tolist() == ["SCHEDULED"]  # its job waits: left alone
    subprocess.run(["scancel", job], check=True, timeout=30)
    slurm.wait_for(lambda: job_left(job), "the job to leave the queue")
    listed = run_ml("runs", "Digits", "--csv")
    assert listed.returncode == 0 and ",KILLED," in listed.stdout, listed.stdout
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.info.status == "KILLED" and run.info.end_time is not None
    assert run.data.tags["antelope.stale"] == f"its Slurm job {job} left the queue before it started"
    assert job_left("999999")  # a job Slurm does not know (or no longer): left


def test_a_run_stopped_here_is_resumed_on_slurm_and_waited_for(slurm):
    local = subprocess.Popen([ML, *RUN], stderr=subprocess.DEVNULL, env=dict(os.environ))

    def checkpointed():
        found = runs("Digits")
        return len(found) and max(_steps(found["run_id"][0]), default=0) >= 40

    slurm.wait_for(checkpointed, "the local run to reach step 40")
    run_id = runs("Digits")["run_id"][0]
    local.send_signal(signal.SIGTERM)
    assert local.wait(timeout=120) != 0 and mlflow.MlflowClient().get_run(run_id).info.status == "KILLED"
    other = run_ml(f"resume={run_id}", "launcher=slurm", "slurm.cpus=1", "slurm.tasks_per_node=2")
    assert other.returncode == 2 and other.stderr == (
        f"ml: error: run {run_id} was written by 1 process(es) and this job has 2 (slurm.nodes x "
        f"slurm.tasks_per_node): resume with the same number\n"
    )
    done = run_ml(f"resume={run_id}", "launcher=slurm", "slurm.cpus=1", "slurm.wait=true")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"ml: run {run_id} finished: eval/accuracy 0\.\d+", done.stderr), done.stderr
    run = mlflow.MlflowClient().get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["resume_count"] == "1"
    assert run.data.tags["antelope.slurm.job_id"] in done.stdout
    steps = _steps(run_id)
    assert steps == sorted(set(steps)) and steps[-1] == 200


@pytest.mark.parametrize(
    "given, said",
    [
        (["slurm.partition=nowhere"], r"^ml: error: sbatch refused the run's job: .*invalid partition.*; check slurm"),
        (["slurm.nodes=two"], r"^ml: error: bad value for slurm.nodes: Value 'two' of type 'str' could not be"),
        (["slurm.nodes=0"], r"^ml: error: slurm.nodes=0 must be at least 1$"),
        (["tracking=false"], r"^ml: error: launcher=slurm records the run in MLflow .*: drop tracking=false$"),
        ([f"model={MODELS}:Nope"], r"^ml: error: .*Nope"),
        (["load=true"], r"^ml: error: launcher=slurm continues a run named by its id: give resume=<run id>, not load"),
    ],
)
def test_a_run_slurm_cannot_take_is_a_one_line_error_and_leaves_no_run(given, said, slurm):
    done = run_ml(*RUN, "launcher=slurm", "slurm.cpus=1", *given)
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert re.match(said, done.stderr), done.stderr
    assert runs("Digits").empty and not slurm.jobs()


def test_a_run_that_fails_in_its_job_is_an_error_where_the_console_waits(slurm):
    done = run_ml(f"model={MODELS}:Crashes", "train_steps=20", "launcher=slurm", "slurm.cpus=1", "slurm.wait=true")
    assert done.returncode == 1, done.stderr
    job, run_id = re.search(r"submitted job (\d+) for run (\w+)", done.stdout).groups()
    assert done.stderr.splitlines()[-1] == (
        f"ml: error: run {run_id} ended FAILED in Slurm job {job}: see its log in {os.path.abspath('slurm')}/{job}"
    )
    assert "boom in learn" in _logs([job]) and runs("Digits")["status"].tolist() == ["FAILED"]
