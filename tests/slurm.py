"""A throwaway one-node Slurm cluster for tests: munged, slurmctld and slurmd as root, one partition, its
config, state and logs in a temp folder; SLURM_CONF points Slurm's commands (and submitit) at it. The daemons
are stopped by their pids at the end (munged only if this module started it).

    def test_x(slurm):          # the fixture from conftest: the Cluster, SLURM_CONF set for the test
        slurm.wait_for(lambda: ...)
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

MUNGE_KEY = "/etc/munge/munge.key"
MUNGE_SOCKET = "/run/munge/munge.socket.2"
DAEMONS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scancel", "srun")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _wait_for(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _pid(path):
    try:
        with open(path) as file:
            return int(file.read().strip())
    except (OSError, ValueError):
        return None


class Cluster:
    def __init__(self):
        missing = [name for name in DAEMONS if shutil.which(name) is None]
        if missing:
            pytest.skip(
                f"Slurm is not installed ({', '.join(missing)} not found; .ci/run installs slurm-wlm and munge)"
            )
        if os.geteuid() != 0:
            pytest.skip("the test cluster's daemons run as root (SlurmUser=root)")
        self.folder = tempfile.mkdtemp(prefix="antelope-slurm-")
        self.munged = None if os.path.exists(MUNGE_SOCKET) and self._munge_answers() else self._start_munged()
        self.conf = self._write_conf()
        self.env = {**os.environ, "SLURM_CONF": self.conf}
        for daemon in ("slurmctld", "slurmd"):
            done = subprocess.run([daemon, "-f", self.conf], env=self.env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{daemon}: {done.stderr}"
        _wait_for(lambda: self.node_state() == "idle", "the node to be idle")

    def _munge_answers(self):
        return subprocess.run(["munge", "-n"], capture_output=True, timeout=10).returncode == 0

    def _start_munged(self):
        if not os.path.exists(MUNGE_KEY):
            with open(MUNGE_KEY, "wb") as key:
                key.write(os.urandom(1024))
            shutil.chown(MUNGE_KEY, "munge", "munge")
            os.chmod(MUNGE_KEY, 0o400)
        os.makedirs(os.path.dirname(MUNGE_SOCKET), exist_ok=True)
        shutil.chown(os.path.dirname(MUNGE_SOCKET), "munge", "munge")
        pidfile = os.path.join(self.folder, "munged.pid")
        os.chmod(self.folder, 0o755)
        done = subprocess.run(
            ["runuser", "-u", "munge", "--", "munged", "--force", "--pid-file", pidfile],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        _wait_for(self._munge_answers, "munged")
        return pidfile

    def _write_conf(self):
        host, cpus = socket.gethostname().split(".")[0], os.cpu_count()
        controller, node = _free_ports(2)
        paths = {name: os.path.join(self.folder, name) for name in ("state", "spool")}
        for path in paths.values():
            os.makedirs(path)
        text = f"""ClusterName=antelope
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobRequeue=1
SlurmctldPort={controller}
SlurmdPort={node}
StateSaveLocation={paths["state"]}
SlurmdSpoolDir={paths["spool"]}
SlurmctldPidFile={self.folder}/slurmctld.pid
SlurmdPidFile={self.folder}/slurmd.pid
SlurmctldLogFile={self.folder}/slurmctld.log
SlurmdLogFile={self.folder}/slurmd.log
SchedulerParameters=sched_interval=1
AuthInfo=cred_expire=10
NodeName={host} CPUs={cpus} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
        conf = os.path.join(self.folder, "slurm.conf")
        with open(conf, "w") as file:
            file.write(text)
        return conf

    def node_state(self):
        found = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"], env=self.env, capture_output=True, text=True, timeout=30
        )
        return found.stdout.strip()

    def jobs(self):
        """{job id: state} of the jobs Slurm still knows (squeue)."""
        found = subprocess.run(
            ["squeue", "--noheader", "--format=%i %T"], env=self.env, capture_output=True, text=True, timeout=30
        )
        return dict(line.split() for line in found.stdout.splitlines() if line.strip())

    def wait_for(self, condition, what, timeout=300):
        _wait_for(condition, what, timeout)

    def log(self):
        with open(os.path.join(self.folder, "slurmctld.log")) as file:
            return file.read()

    def cancel_all(self):
        """Every job cancelled, and gone from the queue."""
        subprocess.run(["scancel", "--full", "--user=root"], env=self.env, capture_output=True, timeout=30)
        _wait_for(lambda: not self.jobs(), "the jobs to end", timeout=120)

    def stop(self):
        self.cancel_all()
        for name in ("slurmd", "slurmctld"):
            pid = _pid(os.path.join(self.folder, f"{name}.pid"))
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGTERM)
                    _wait_for(lambda pid=pid: not os.path.exists(f"/proc/{pid}"), f"{name} to stop", timeout=30)
                except ProcessLookupError:
                    pass
        if self.munged is not None:
            pid = _pid(self.munged)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(self.folder, ignore_errors=True)
