"""The `ml` console, in a subprocess, as a user types it."""
import subprocess
import sys
from pathlib import Path

from conftest import run_ml, runs

MODELS = Path(__file__).parent / "models.py"


def test_default_job_trains_records_and_says_where_to_look():
    done = run_ml()
    assert done.returncode == 0, done.stderr
    assert "mlflow ui --backend-store-uri sqlite:///" in done.stderr
    assert "step 1000/1000" in done.stderr  # plain progress lines when not on a terminal
    table = runs("Digits")
    assert list(table["status"]) == ["FINISHED"]
    assert table["metrics.eval/accuracy"][0] > 0.95
    assert table["params.model._target_"][0] == "antelope.agents.AC2Agent"


def test_seed_page_console_example_with_a_model_file():
    done = run_ml(f"model={MODELS}:Model", "optim=SGD", "optim.lr=1e-2", "scheduler=CosineAnnealingLR",
                  "scheduler.T_max=1000", "train_steps=50", "evaluate_per_steps=0")
    assert done.returncode == 0, done.stderr
    row = runs("Digits").iloc[0]
    assert row["params.optim._target_"] == "torch.optim.sgd.SGD" and row["params.optim.lr"] == "0.01"
    assert row["params.scheduler.T_max"] == "1000"
    assert row["tags.antelope.model"].endswith("Model")
    assert "optim=SGD" in row["tags.antelope.overrides"]


def test_cfg_prints_the_resolved_config_and_help_lists_keys():
    done = run_ml("--cfg", "optim=SGD", "lr=0.1", "lr_decay_epochs=7")
    assert done.returncode == 0, done.stderr
    assert "_target_: torch.optim.sgd.SGD" in done.stdout and "lr: 0.1" in done.stdout
    assert "T_max: 7" in done.stdout and "CosineAnnealingLR" in done.stdout
    assert runs().empty
    done = run_ml("--help")
    assert done.returncode == 0
    for text in ("train_steps", "evaluate_per_steps", "lr_decay_epochs", "optim:", "AdamW", "CosineAnnealingLR"):
        assert text in done.stdout


def test_bad_input_is_one_line_exit_2_and_no_run():
    for args, message in [
        (["trian_steps=5"], "unknown config key 'trian_steps' (did you mean 'train_steps'?)"),
        (["optim=Adamm"], "did you mean 'Adam'"),
        (["dataset=CIFAR1O"], "did you mean 'CIFAR10'"),
        (["dataset=missing/file.csv"], "does not exist"),
        (["model=tests/nowhere.py:Model"], "no such file"),
        (["env=CartPol-v1"], "did you mean 'CartPole-v1'"),
        ([f"model={MODELS}:Deep"], "needs argument 'depth'"),
        ([f"model={MODELS}:VectorLoss"], "must return a scalar loss"),
    ]:
        done = run_ml(*args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert lines[-1].startswith("ml: error: ") and message in lines[-1], (args, done.stderr)
        assert "Traceback" not in done.stderr
    statuses = set(runs()["status"]) if not runs().empty else set()
    assert "RUNNING" not in statuses  # VectorLoss's run started and ended FAILED


def test_verbose_shows_the_traceback():
    done = run_ml("--verbose", "trian_steps=5")
    assert done.returncode == 2 and "Traceback" in done.stderr


def test_progress_bar_on_a_terminal():
    import os
    import pty
    import subprocess

    from conftest import ML

    controller, terminal = pty.openpty()
    process = subprocess.Popen([ML, "train_steps=300", "log_per_steps=50"], stdin=terminal, stdout=terminal,
                               stderr=terminal, env=dict(os.environ), close_fds=True)
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


def test_runs_record_the_git_commit_of_the_working_directory(workdir):
    import subprocess

    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "x"], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    from antelope import ml

    result = ml(train_steps=5)
    tags = __import__("mlflow").MlflowClient().get_run(result.run_id).data.tags
    assert tags["mlflow.source.git.commit"] == commit


def test_import_antelope_leaves_the_heavy_libraries_until_they_are_used():
    heavy = ["mlflow", "optuna", "hydra", "omegaconf", "torchvision", "gymnasium", "pandas", "matplotlib"]
    code = f"import sys; from antelope import ml, sweep; print([m for m in {heavy} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
