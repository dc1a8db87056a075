"""The `ml` console, in a subprocess, as a user types it (the end-to-end layer of antelope.cli)."""

from pathlib import Path

import pytest
from conftest import run_ml, runs

MODELS = Path(__file__).parent / "models.py"
pytestmark = pytest.mark.slow


def test_default_job_trains_records_and_says_where_to_look():
    done = run_ml()
    assert done.returncode == 0, done.stderr
    see = "see it with: ml ui, then http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"
    assert f"{see}   (or: ml runs, ml plot)" in done.stderr
    assert "step 1000/1000" in done.stderr  # plain progress lines when not on a terminal
    table = runs("Digits")
    assert list(table["status"]) == ["FINISHED"]
    assert table["metrics.eval/accuracy"][0] > 0.95
    assert table["params.model._target_"][0] == "antelope.agents.AC2Agent"


def test_seed_page_console_example_with_a_model_file():
    done = run_ml(
        f"model={MODELS}:Model",
        "optim=SGD",
        "optim.lr=1e-2",
        "scheduler=CosineAnnealingLR",
        "scheduler.T_max=1000",
        "train_steps=50",
        "evaluate_per_steps=0",
    )
    assert done.returncode == 0, done.stderr
    row = runs("Digits").iloc[0]
    assert row["params.optim._target_"] == "torch.optim.sgd.SGD" and row["params.optim.lr"] == "0.01"
    assert row["params.scheduler.T_max"] == "1000"
    assert row["tags.antelope.model"].endswith("Model")
    assert "optim=SGD" in row["tags.antelope.overrides"]


def test_bad_input_is_one_line_exit_2_and_no_run():
    for args, message in [  # every kind of bad input is in test_cli.py, in-process; one through the process
        ([f"model={MODELS}:VectorLoss"], "must return a scalar loss"),
    ]:
        done = run_ml(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert lines[-1].startswith("ml: error: ") and message in lines[-1], (args, done.stderr)
        assert "Traceback" not in done.stderr
    statuses = set(runs()["status"]) if not runs().empty else set()
    assert "RUNNING" not in statuses  # VectorLoss's run started and ended FAILED


def test_progress_bar_on_a_terminal():
    import os
    import pty
    import subprocess

    from conftest import ML

    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [ML, "train_steps=300", "log_per_steps=50"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=dict(os.environ),
        close_fds=True,
    )
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        output += chunk
    assert process.wait(timeout=60) == 0
    text = output.decode(errors="replace")
    assert "300/300" in text and "step/s" in text and "\r" in text and "%|" in text  # tqdm's bar, redrawn
    assert "eval/accuracy" in text and "train/loss" in text
    assert "step 300/300" not in text  # not the plain lines


def test_a_sweep_on_a_new_store_prints_its_own_lines_not_the_libraries_chatter(tmp_path, monkeypatch):
    """MLflow's "Creating initial tables" and Optuna's "[I ...] A new study created" stay out of the console:
    what a sweep says is antelope's (ANTELOPE_VERBOSE=1 lets the libraries' INFO lines through)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'new.db'}")  # migrated by this command
    done = run_ml("-m", "optim.lr=choice(0.01, 0.03)", "sweep.trials=2", "train_steps=20", "evaluate_per_steps=10")
    assert done.returncode == 0, done.stderr
    ours = ("ml: ", "trial ", "    see it with: ")
    assert [line for line in done.stderr.splitlines() if not line.startswith(ours)] == []
    assert done.stderr.count("see it with: ") == 1  # once for the sweep, not per trial
    monkeypatch.setenv("ANTELOPE_VERBOSE", "1")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'other.db'}")
    verbose = run_ml("-m", "optim.lr=choice(0.01, 0.03)", "sweep.trials=1", "train_steps=20", "sweep.study=loud")
    assert verbose.returncode == 0, verbose.stderr
    assert "Creating initial MLflow database tables" in verbose.stderr and "A new study created" in verbose.stderr
