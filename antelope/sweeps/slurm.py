"""Sweep workers as Slurm jobs (`sweep.launcher=slurm`), submitted through submitit.

    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' sweep.launcher=slurm sweep.workers=8 sweep.slurm.gpus=1

Each job is one worker on the study's shared storage and the shared MLflow tracking store: it takes its next
trial as soon as its last one ends (no batch barrier), and the last one to finish closes the sweep's parent
run. The console prints the job ids and returns (`sweep.slurm.wait=true` waits); the same command run again
attaches to the same study and parent run and submits only the workers that are no longer queued or running.

Before its time limit Slurm sends the job SIGUSR2 (submitit asks for it, `signal_delay_s` ahead): the trial
finishes its step, saves a checkpoint and is released, and submitit requeues the job (`Worker.checkpoint`);
the requeued job, or any free worker, continues the trial as the same trial and the same run. SIGTERM (a job
cancelled, or preempted with PreemptMode=REQUEUE, which requeues it itself) also checkpoints and releases it.
"""

import os
import signal
import subprocess
import sys

from .. import processes, tracking
from ..errors import ConfigError
from ..run import slurm
from ..train import REQUEUE, Interrupted
from . import workers
from .report import finish

JOBS = "antelope.slurm.jobs"  # the parent run's tag: the ids of the worker jobs submitted for the sweep


class Worker:
    """One sweep worker as a Slurm job (pickled by submitit, called on the node)."""

    def __init__(self, plan, index, cpus):
        self.plan, self.index, self.cpus = plan, index, cpus

    def __call__(self):
        import submitit
        import torch

        job = submitit.JobEnvironment()
        torch.set_num_threads(self.cpus)  # the job's CPUs, whatever the node has
        tags = {
            "antelope.worker": str(self.index),
            "antelope.slurm.job_id": str(job.job_id),
            "antelope.slurm.node": job.hostname,
        }
        if os.environ.get("CUDA_VISIBLE_DEVICES"):  # set by Slurm for the job's GPUs (gres)
            tags["antelope.cuda_visible_devices"] = os.environ["CUDA_VISIBLE_DEVICES"]
        try:
            study = workers.join(self.plan, self.index, tags)
        except Interrupted as stopped:  # the trial is checkpointed and released (antelope.sweeps.trial)
            if stopped.requeue:  # Slurm's warning: hand the signal to submitit, which requeues this job and exits
                signal.raise_signal(REQUEUE)
            raise
        finish(study, self.plan)  # the parent run ends FINISHED once no trial runs anywhere

    def checkpoint(self, *args, **kwargs):
        """What submitit requeues on Slurm's warning signal: this worker again (its trial is in the study)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


def launch(plan, count, settings):
    """Submit `count` worker jobs with the resources in `settings` (cfg.sweep.slurm), fewer when jobs of an
    earlier launch of the sweep still queue or run; returns (the ids submitted, the ids still live)."""
    if settings.nodes != 1 or settings.tasks_per_node != 1:
        raise ConfigError(
            f"sweep.slurm.nodes={settings.nodes} and .tasks_per_node={settings.tasks_per_node}: a sweep's worker job "
            f"is one process on one node (give sweep.workers=N for more); a run across nodes is launcher=slurm"
        )
    executor = slurm.executor(settings, f"ml-sweep-{plan.study}", "sweep.slurm")
    from submitit.core.utils import FailedJobError

    live = processes.live_jobs(tracking.run_tags(plan.parent_run_id).get(JOBS, "").split())
    submitted = []
    for index in range(len(live), count):
        try:
            submitted.append(slurm.submit_quietly(executor, Worker(plan, index, settings.cpus)))
        except (FailedJobError, subprocess.CalledProcessError) as error:  # what sbatch said on stderr
            raise slurm.refused(error, "sweep.slurm", settings, "the sweep's worker job") from None
    tracking.set_tags(plan.parent_run_id, {JOBS: " ".join(live + submitted), "antelope.launcher": "slurm"})
    return submitted, live


def wait(plan, ids):
    """Until none of the jobs is queued or running, printing when each ends."""
    processes.wait_for_jobs(
        ids, min(plan.heartbeat, 5), lambda job: print(f"ml: worker job {job} ended", file=sys.stderr)
    )
