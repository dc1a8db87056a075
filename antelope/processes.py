"""Where a process runs (host and pid, the git commit of its working directory) and with what (package
versions), as runs and trials record it, and whether it is still alive; and whether a Slurm job still is.

A run left RUNNING by a process of this machine that is gone (kill -9) is stale, and a sweep trial
whose recorded process is gone is lost: both are known at once, without waiting for a timeout. Slurm's jobs
are asked of squeue (submitit's own job states come from sacct, which needs Slurm's accounting database).
"""

import functools
import os
import shutil
import socket
import subprocess
import time

SLURM_LIVE = (
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "REQUEUE_HOLD",
    "REQUEUE_FED",
    "RESIZING",
    "SUSPENDED",
    "CONFIGURING",
    "COMPLETING",
    "SIGNALING",
    "STAGE_OUT",
)  # squeue's states of a job that still holds or awaits a node


def verbose():
    """Whether the user asked for the libraries' own INFO lines (ANTELOPE_VERBOSE=1): MLflow's "Creating initial
    MLflow database tables", Optuna's "A new study created"; without it antelope's own lines say what matters."""
    return os.environ.get("ANTELOPE_VERBOSE", "") not in ("", "0")


def this_process():
    """'host:pid': how a study records the worker process running a trial."""
    return f"{socket.gethostname()}:{os.getpid()}"


def gone(recorded):
    """Whether the process recorded as 'host:pid' is of this machine and no longer running."""
    host, _, pid = recorded.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not alive(int(pid))


def alive(pid):
    """Whether process `pid` of this machine is running (a zombie, dead but not reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def slurm_states(ids):
    """{job id: squeue's state} of those of the Slurm job `ids` that squeue still lists (a job it has forgotten
    is absent); None where squeue cannot tell: its controller does not answer, or it takes too long."""
    try:
        found = subprocess.run(
            ["squeue", "--noheader", "--format=%i %T", "--jobs", ",".join(ids)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return None
    if found.returncode != 0:
        return {} if "Invalid job id" in found.stderr else None  # squeue's answer for jobs it no longer knows
    return dict(line.split() for line in found.stdout.splitlines() if len(line.split()) == 2)


def live_jobs(ids):
    """Those of the Slurm job ids that squeue still lists as queued or running (none where it cannot tell)."""
    if not ids:
        return []
    states = slurm_states(ids) or {}
    return [job for job in ids if states.get(job) in SLURM_LIVE]


def wait_for_jobs(ids, seconds, ended=lambda job: None):
    """Until none of the Slurm jobs `ids` is queued or running (requeued and run again included), asking squeue
    every `seconds`: Slurm's own answer, with no event to wait on from here (while it cannot tell, the jobs are
    waited for still). `ended(job)` as each leaves."""
    remaining = list(ids)
    while remaining:
        states = slurm_states(remaining)
        live = remaining if states is None else [job for job in remaining if states.get(job) in SLURM_LIVE]
        for job in remaining:
            if job not in live:
                ended(job)
        remaining = live
        if remaining:
            time.sleep(seconds)


def slurm_here():
    """Whether this machine has Slurm's squeue to ask about jobs."""
    return shutil.which("squeue") is not None


def job_left(job_id):
    """Whether Slurm job `job_id` has left the queue (ended, cancelled, or so long ago that Slurm forgot it);
    False where squeue cannot tell."""
    states = slurm_states([job_id])
    return states is not None and states.get(job_id) not in SLURM_LIVE


@functools.lru_cache(maxsize=16)
def git_commit(folder):
    """The git commit checked out in `folder`, or None outside a repository (asked once per folder and
    process: many runs in one process, a sweep's trials say, share it)."""
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=folder)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() if found.returncode == 0 else None


PACKAGES = ("antelope", "torch", "mlflow", "optuna")  # what a run's results depend on, recorded with it


@functools.lru_cache(maxsize=1)
def package_versions():
    """{'torch': '2.5.1', ...}: the installed versions of PACKAGES (None: not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name):
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {name: installed(name) for name in PACKAGES}
