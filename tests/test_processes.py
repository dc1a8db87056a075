"""processes on its own: how a process is recorded, whether a recorded process of this machine is gone, and
whether squeue can tell that a Slurm job left the queue (a real cluster answers in tests/test_slurm.py)."""

import os
import shutil
import socket
import subprocess
import sys

import pytest

from antelope.processes import alive, gone, job_left, slurm_here, this_process

HOST = socket.gethostname()


@pytest.fixture
def dead_pid():
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_this_process_is_host_and_pid():
    assert this_process() == f"{HOST}:{os.getpid()}"


def test_running_processes_are_alive():
    assert alive(os.getpid())
    assert alive(1)  # init: running, whether or not we may signal it


def test_an_exited_and_reaped_child_is_not_alive(dead_pid):
    assert not alive(dead_pid)


def test_an_exited_child_not_yet_reaped_is_not_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # waits for the exit, leaves it unreaped
        with open(f"/proc/{child.pid}/stat") as stat:
            assert stat.read().split(")")[-1].split()[0] == "Z"  # a zombie: its pid still exists
        assert not alive(child.pid)
    finally:
        child.wait()


def test_gone_is_true_only_for_this_machines_dead_processes(dead_pid):
    assert gone(f"{HOST}:{dead_pid}")
    assert not gone(this_process())
    assert not gone(f"another-{HOST}:{dead_pid}")  # another machine's: not ours to judge


@pytest.mark.parametrize("record", ["", "nonsense", f"{HOST}:", f"{HOST}:abc", f"{HOST}:-5", f"{HOST}:12 "])
def test_a_malformed_record_is_not_gone(record):
    assert not gone(record)


def test_git_commit_of_a_repository_and_of_a_plain_folder(tmp_path):
    from antelope.processes import git_commit

    repo, plain = tmp_path / "repo", tmp_path / "plain"
    repo.mkdir(), plain.mkdir()
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(repo)]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "x"], check=True)
    head = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert git_commit(str(repo)) == head and len(head) == 40
    assert git_commit(str(plain)) is None


def test_slurm_is_here_only_where_squeue_is(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a folder without squeue
    assert not slurm_here()


@pytest.mark.skipif(shutil.which("squeue") is None, reason="needs Slurm's squeue (slurm-wlm; .ci/run installs it)")
def test_a_job_squeue_cannot_answer_for_has_not_left(monkeypatch):
    """squeue with no controller to ask (no SLURM_CONF, no DNS record for one) fails: nothing is told of the job,
    so a run waiting for it is not closed."""
    monkeypatch.delenv("SLURM_CONF", raising=False)
    assert slurm_here() and not job_left("123")
