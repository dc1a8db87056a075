"""Where a process runs (host and pid, the git commit of its working directory) and with what (package
versions), as runs and trials record it, and whether it is still alive.

A run left RUNNING by a process of this machine that is gone (kill -9) is stale, and a sweep trial
whose recorded process is gone is lost: both are known at once, without waiting for a timeout.
"""

import functools
import os
import socket
import subprocess


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
