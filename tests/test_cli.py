"""antelope.cli in-process: --help, --cfg, --verbose, and bad input, one case per row: a one-line error naming
the bad value and what would be valid, exit status 2, no traceback, and no run left RUNNING. The console as a
user runs it, in a subprocess, is tests/test_console.py."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import runs

from antelope.cli import main

MODELS = Path(__file__).parent / "models.py"

CASES = [
    # (overrides, what the error line must say); tests/test_composition.py has every config-only case, at compose
    (["trian_steps=5"], "unknown config key 'trian_steps' (did you mean 'train_steps'?)"),
    (["batch_size=many"], "bad value for batch_size"),
    (["optim=Adamm"], "unknown optimizer optim='Adamm' (did you mean 'Adam'"),
    (["lr==3"], "cannot parse override 'lr==3'"),
    (["optim.lr=interval(0.1,1)"], "requires --multirun"),
    (["scheduler=StepLR"], "scheduler=StepLR needs scheduler.step_size"),
    (["optim.lr=-1"], "cannot build optim=Adam: Invalid learning rate: -1"),
    (["dataset=CIFAR1O"], "unknown dataset 'CIFAR1O' (did you mean 'CIFAR10'"),
    (["dataset=missing.csv"], "dataset file 'missing.csv' does not exist"),
    (["dataset=./no/folder"], "dataset './no/folder' does not exist"),
    (["dataset=corrupt.parquet"], "cannot read dataset file 'corrupt.parquet'"),
    (["dataset=nolabel.csv"], "nolabel.csv has no label column 'label'"),
    (["dataset=CIFAR10"], "CIFAR10 is not in"),
    (["model=MPL"], "unknown model 'MPL' (did you mean 'MLP'?)"),
    (["model=os.sep"], "model 'str' is not a torch.nn.Module class, instance, or a function that returns one"),
    (["model=os.getcwd"], "model 'getcwd' returned a str, not a torch.nn.Module"),
    (["model=nowhere.py:Model"], "no such file 'nowhere.py'"),
    ([f"model={MODELS}:Nope"], "has no 'Nope'"),
    ([f"model={MODELS}:NotAModule"], "model 'NotAModule' is not a torch.nn.Module class, instance, or a function"),
    ([f"model={MODELS}:Deep"], "Deep.__init__ needs argument 'depth'"),
    ([f"model={MODELS}:Deep", "model.dpth=2"], "has no argument 'dpth' (did you mean 'depth'"),
    ([f"model={MODELS}:VectorLoss"], "VectorLoss.learn must return a scalar loss"),
    ([f"model={MODELS}:SevenLogits"], "output has shape (7,) per sample; expected (10,)"),
    (["env=CartPol-v1"], "did you mean 'CartPole-v1'"),
    (["resume=0123456789abcdef"], "resume='0123456789abcdef': no such MLflow run"),
    (["resume=CORRUPT"], "cannot load checkpoint"),
    (["UNREACHABLE"], "cannot reach the MLflow tracking server"),
]
if torch.cuda.is_available():
    CASES = [case for case in CASES if case[0] != ["device=cuda"]]
else:
    CASES.append((["device=cuda"], "device=cuda but no CUDA device is available"))


@pytest.fixture
def prepared(workdir, monkeypatch):
    (workdir / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    (workdir / "nolabel.csv").write_text("x,y\n1,2\n")

    def prepare(args):
        if args == ["resume=CORRUPT"]:
            from antelope import ml

            result = ml(train_steps=10)
            artifacts = Path(__import__("mlflow").MlflowClient().get_run(result.run_id).info.artifact_uri)
            for checkpoint in (artifacts / "checkpoints").iterdir():
                checkpoint.write_bytes(b"\x00garbage")
            return [f"resume={result.run_id}"]
        if args == ["UNREACHABLE"]:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]  # nothing listens here once the socket closes
            monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
            return []
        return args

    return prepare


@pytest.mark.parametrize("args, message", CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input(args, message, prepared, capsys):
    args = prepared(args)
    capsys.readouterr()
    budget = [] if any(a.startswith("resume=") for a in args) else ["train_steps=20", "evaluate_per_steps=0"]
    status = main([*budget, *args])
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert status == 2, err
    assert last.startswith("ml: error: ") and message in last, last
    assert "Traceback" not in err
    assert len(last) < 400  # one readable line
    if "UNREACHABLE" not in args and args and "resume=" not in args[0]:
        table = runs()
        assert table.empty or "RUNNING" not in set(table["status"])


def test_credentials_never_reach_params_tags_or_the_console(workdir, capsys):
    from antelope import ml

    result = ml(
        train_steps=10,
        experiment="secrets",
        dataset="FakeData",  # a torchvision dataset: its dataset_root is used, so recorded
        image_size=8,
        dataset_root="postgresql://alice:s3cret@db.example/x",
    )  # a URI-shaped value anywhere
    out = capsys.readouterr()
    run = __import__("mlflow").MlflowClient().get_run(result.run_id)
    recorded = " ".join(list(run.data.params.values()) + list(run.data.tags.values()) + [run.info.run_name])
    assert "s3cret" not in recorded and "alice:***@" in run.data.params["dataset_root"]
    assert "s3cret" not in out.err + out.out


def test_help_lists_every_key_and_the_optimizer_and_scheduler_names(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for text in ("train_steps", "evaluate_per_steps", "lr_decay_epochs", "optim:", "AdamW", "CosineAnnealingLR"):
        assert text in out


def test_cfg_prints_the_resolved_config_without_running(capsys):
    assert main(["--cfg", "optim=SGD", "lr=0.1", "lr_decay_epochs=7"]) == 0
    out = capsys.readouterr().out
    assert "_target_: torch.optim.sgd.SGD" in out and "lr: 0.1" in out
    assert "T_max: 7" in out and "CosineAnnealingLR" in out
    assert runs().empty


def test_verbose_shows_the_traceback_and_an_unknown_flag_is_an_error(capsys):
    assert main(["--verbose", "trian_steps=5"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert main(["--fast"]) == 2
    assert "ml: error: unrecognized arguments: --fast" in capsys.readouterr().err


def test_import_antelope_leaves_the_heavy_libraries_until_they_are_used():
    heavy = ["mlflow", "optuna", "hydra", "omegaconf", "torchvision", "gymnasium", "pandas", "matplotlib"]
    code = f"import sys; from antelope import ml, sweep; print([m for m in {heavy} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [["--help"], ["runs"], ["ui", "--help"], ["plot", "--help"]])
def test_looking_at_results_and_help_start_without_importing_torch(argv, workdir):
    """Importing torch takes seconds: the commands that train nothing do without it (a fresh process, as `ml`)."""
    code = f"import sys\nfrom antelope.cli import main\ntry:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
    code += "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules), file=sys.stderr)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=workdir)
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr
