"""The README's snippets run as a reader would run them: the Python blocks in order, in one namespace,
and every `ml ...` and `torchrun ...` console line."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import runs

pytestmark = pytest.mark.slow


README = (Path(__file__).parent.parent / "README.md").read_text()


def blocks(language):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_python_snippets_run_in_order():
    namespace = {}
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), namespace)
    table = runs("Digits")
    assert len(table) == len([code for code in blocks("python") if "sweep(" not in code])  # every block trains once
    assert set(table["status"]) == {"FINISHED"}
    assert (table["metrics.eval/accuracy"] > 0.5).all()
    swept = runs("digits-sweeps")  # the Sweeps block: a parent run and a child run per trial
    assert len(swept) == 1 + len(namespace["study"].trials)
    assert set(swept["status"]) == {"FINISHED"}


def test_console_snippets_run(capsys):
    """Each `ml ...` line through the console's entry point (antelope.cli.main, what the `ml` script calls),
    in this process: the console as a process is tests/test_console.py's, and a process per line would
    spend most of its time importing torch and MLflow again."""
    from antelope.cli import main

    lines = [line for code in blocks("console") for line in code.splitlines() if line.startswith("ml ")]
    assert len(lines) >= 10
    for line in lines:
        status = main([*shlex.split(line, comments=True)[1:], "train_steps=50"])
        assert status == 0, (line, capsys.readouterr().err[-3000:])


def test_torchrun_snippets_run():
    lines = [line for code in blocks("console") for line in code.splitlines() if line.startswith("torchrun ")]
    lines = [line for line in lines if "--node-rank=" not in line]  # the nodes run together: tests/test_distributed.py
    assert lines
    for line in lines:  # torchrun is the venv's `python -m torch.distributed.run`
        done = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", *shlex.split(line, comments=True)[1:], "train_steps=50"],
            capture_output=True,
            text=True,
            timeout=300,
            env=dict(os.environ),
        )
        # the processes' own errors come before torchrun's summary of them: show both
        assert done.returncode == 0, (line, done.stderr[:3000], done.stderr[-1500:])
        assert "finished: eval/accuracy" in done.stderr
