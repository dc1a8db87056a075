"""One run as one Slurm job (`launcher=slurm`), submitted through submitit, on one node or several.

    ml train_steps=100000 launcher=slurm slurm.nodes=2 slurm.tasks_per_node=4 slurm.gpus=4 slurm.time=240
    ml resume=<run_id> launcher=slurm        # continue a run on the cluster, wherever it started

The console makes the run's MLflow run (SCHEDULED), submits the job, prints the job id and the run id, and
returns (`slurm.wait=true` follows the job and prints the run's summary as a local run does). Every process of
the job (slurm.nodes x slurm.tasks_per_node) joins one data-parallel run (antelope.train.distributed), its
rendezvous taken from Slurm's environment by submitit (the first node's name, a port from the job id); rank 0
records the run, with the job id, the node list and the world size.

Before its time limit Slurm sends SIGUSR2 (submitit asks for it), and `scancel --signal=USR2` does the same:
the ranks stop together at the next `log_per_steps` step, rank 0 saves a checkpoint, and submitit requeues the
job, which continues the same MLflow run from that checkpoint with the same world size. SIGTERM (a job
cancelled, or preempted with PreemptMode=REQUEUE) also saves a checkpoint and ends the run KILLED; `ml
resume=<run_id> launcher=slurm` continues it.
"""

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field

from .. import processes, tracking
from ..config import compose, experiment_name
from ..config import overrides as lines
from ..errors import ConfigError, TrainingError
from ..train import REQUEUE, Interrupted, resolve
from .keeping import kept_evaluation

JOB_ID, NODES = tracking.SLURM_JOB, "antelope.slurm.nodes"  # a run's tags: its Slurm job, its node list
LAUNCH_KEYS = ("launcher", "slurm")  # how a run is launched: not passed to the job, which runs it


@dataclass(frozen=True)
class Job:
    """The Slurm job a run runs in, as antelope.run.ml.run sees it: the run made for it, and the job's tags."""

    run_id: str
    tags: dict = field(default_factory=dict)


def executor(settings, name, key, nodes=1, tasks_per_node=1):
    """A submitit executor for jobs with the resources in `settings` (a SlurmConfig); `key` names the settings
    in errors (`slurm` or `sweep.slurm`)."""
    try:
        import submitit
    except ImportError:
        raise ConfigError(f"{_launcher(key)} needs submitit: pip install 'antelope[slurm]'") from None
    if settings.time < 1 or settings.cpus < 1 or settings.gpus < 0:
        raise ConfigError(
            f"{key}.time={settings.time}, .cpus={settings.cpus} and .gpus={settings.gpus} must be at least 1, 1 and 0"
        )
    try:
        made = submitit.SlurmExecutor(folder=os.path.join(os.path.abspath(settings.folder), "%j"))
    except RuntimeError:  # submitit found no srun
        raise ConfigError(
            f"{_launcher(key)} needs Slurm's commands (sbatch, srun) on this machine: run it on the cluster's "
            f"login node, or use {_launcher(key).replace('slurm', 'local')}"
        ) from None
    resources = {
        "partition": settings.partition,
        "mem": settings.mem,
        "gres": f"gpu:{settings.gpus}" if settings.gpus else None,
    }
    try:
        made.update_parameters(
            job_name=name,
            time=settings.time,
            nodes=nodes,
            ntasks_per_node=tasks_per_node,
            cpus_per_task=settings.cpus,
            stderr_to_stdout=True,
            additional_parameters=dict(settings.sbatch),
            **{k: v for k, v in resources.items() if v is not None},
        )
    except ValueError as error:
        raise ConfigError(f"{key}: {str(error).splitlines()[0]}") from None
    return made


def _launcher(key):
    """The launcher key for settings `key`: launcher=slurm for slurm.*, sweep.launcher=slurm for sweep.slurm.*."""
    return key.replace("slurm", "launcher=slurm")


def refused(error, key, settings, job="the run's job"):
    """sbatch's refusal (what it said on stderr) as one line naming the settings."""
    said = str(error).splitlines()
    reason = next((line for line in said if "error" in line.lower()), said[0] if said else "")
    return ConfigError(
        f"sbatch refused {job}: {reason}; check {key}.* (partition={settings.partition}, cpus={settings.cpus}, "
        f"gpus={settings.gpus}, mem={settings.mem}, time={settings.time}, nodes={settings.nodes}, "
        f"tasks_per_node={settings.tasks_per_node})"
    )


def submit_quietly(made, worker):
    """`made.submit(worker)`'s job id. sbatch writes a refusal to this process's stderr as well as into the error
    submitit raises (which `refused` says in one line): its own lines are left out."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            return made.submit(worker).job_id
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def submit(cfg, overrides, objects, explicit, train):
    """`ml ... launcher=slurm`: the run made (SCHEDULED) and its job submitted, each of whose processes calls
    `train` (antelope.run.ml.run) as `ml()` would; returns (the run id, its experiment id, its kept model's
    evaluation: {} unless slurm.wait=true, which waits for the job to end)."""
    from submitit.core.utils import FailedJobError

    settings = cfg.slurm
    if not cfg.tracking:
        raise ConfigError(
            "launcher=slurm records the run in MLflow (the console names it, a requeued job continues it): drop "
            "tracking=false"
        )
    if cfg.load:
        raise ConfigError("launcher=slurm continues a run named by its id: give resume=<run id>, not load=true")
    passed = [line for line in overrides if lines.key(line).split(".")[0] not in LAUNCH_KEYS]
    world = settings.nodes * settings.tasks_per_node
    if cfg.resume is not None:
        run_id = _resumable(cfg, explicit, world)
    else:
        compose(passed)  # bad input is one line here, before a job is queued
        resolve(objects.get("model", cfg.model._target_))  # as is a model that cannot be found
        name = f"queued: ml {' '.join(passed)}"[:120]
        run_id = tracking.queue_run(experiment_name(cfg), name, {"antelope.launcher": "slurm"})
    made = executor(settings, f"ml-run-{run_id[:8]}", "slurm", settings.nodes, settings.tasks_per_node)
    try:
        job_id = submit_quietly(made, Worker(train, passed, objects, run_id, settings.cpus, "threads" in explicit))
    except (FailedJobError, subprocess.CalledProcessError) as error:
        if cfg.resume is None:
            tracking.delete_run(run_id)
        raise refused(error, "slurm", settings) from None
    tracking.set_tags(run_id, {JOB_ID: job_id, "antelope.launcher": "slurm"})
    print(
        f"ml: submitted job {job_id} for run {run_id} ({settings.nodes} node(s) x {settings.tasks_per_node} "
        f"process(es); log in {os.path.abspath(settings.folder)}/{job_id})",
        flush=True,
    )
    if not settings.wait:
        print(f"ml: watch it with `squeue --jobs {job_id}` or `ml runs`", flush=True)
        return run_id, tracking.run_experiment_id(run_id), {}
    return _wait(job_id, run_id, settings)


def _resumable(cfg, explicit, world):
    """`resume=<id> launcher=slurm`: the run, checked here (it exists, no live process runs it) and its world
    size against the job's."""
    found = tracking.resumable(cfg.resume)
    processes = int(found.tags.get("antelope.processes", "1"))
    if processes != world:
        raise ConfigError(
            f"run {cfg.resume} was written by {processes} process(es) and this job has {world} (slurm.nodes x "
            f"slurm.tasks_per_node): resume with the same number"
        )
    return cfg.resume


def _wait(job_id, run_id, settings):
    """Until the job has left Slurm's queue (requeued and run again included); the run's summary, or its error."""
    try:
        processes.wait_for_jobs([job_id], 5)
    except KeyboardInterrupt:  # the job is Slurm's: it goes on, and so does its run
        print(f"ml: stopped waiting; job {job_id} and run {run_id} go on (squeue --jobs {job_id})", file=sys.stderr)
        return run_id, tracking.run_experiment_id(run_id), {}
    status = tracking.run_status(run_id)
    kept = kept_evaluation(tracking.run_metrics(run_id))
    if status != "FINISHED":
        raise TrainingError(
            f"run {run_id} ended {status} in Slurm job {job_id}: see its log in "
            f"{os.path.abspath(settings.folder)}/{job_id}"
        )
    summary = "  ".join(f"{k} {v:.4f}" for k, v in kept.items())
    print(f"ml: run {run_id} finished: {summary}", file=sys.stderr)
    return run_id, tracking.run_experiment_id(run_id), kept


class Worker:
    """What each process of the job runs (pickled by submitit): the run, joined to the job's other processes."""

    def __init__(self, train, overrides, objects, run_id, cpus, explicit_threads):
        self.train, self.overrides, self.objects, self.run_id = train, overrides, objects, run_id
        self.cpus, self.explicit_threads = cpus, explicit_threads

    def __call__(self):
        import submitit

        job = submitit.JobEnvironment()
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)  # LOCAL_RANK picks
        tags = {
            JOB_ID: str(job.job_id),
            NODES: os.environ.get("SLURM_JOB_NODELIST", job.hostname),
            "antelope.launcher": "slurm",
        }
        cfg, explicit = compose(self.overrides)
        if not self.explicit_threads:
            cfg.threads = self.cpus  # the job's CPUs per process, whatever the node has
        if tracking.run_tags(self.run_id).get("mlflow.note.content"):  # it ran before: requeued, or resume=
            if tracking.run_status(self.run_id) == "RUNNING" and job.global_rank == 0:
                tracking.end_lost_run(self.run_id, f"its Slurm job {job.job_id} was requeued")
            cfg.resume, explicit = self.run_id, {"resume"}
        try:
            self.train(cfg, self.overrides, self.objects, explicit, job=Job(self.run_id, tags))
        except Interrupted as stopped:
            if stopped.requeue:  # Slurm's warning: hand the signal to submitit, which requeues the job (rank 0)
                signal.raise_signal(REQUEUE)
            raise
        except Exception as error:  # before its run opened (a run that opened is closed FAILED by itself)
            if job.global_rank == 0 and tracking.run_status(self.run_id) == "SCHEDULED":
                tracking.set_tags(self.run_id, {"antelope.failure": f"{type(error).__name__}: {error}"[:500]})
                tracking.end_run(self.run_id, "FAILED")
            raise

    def checkpoint(self, *args, **kwargs):
        """What submitit requeues on Slurm's warning signal: this run again, which resumes from its checkpoint."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)
