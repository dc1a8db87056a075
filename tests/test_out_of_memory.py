"""Out of memory is an outcome, not a crash (on the CPU, with a model that raises the device's error): the run ends
FAILED with one line naming the step, the batch size and the device's memory; in a sweep the trial ends FAIL with
that reason and the worker goes on to the next trial."""

from pathlib import Path

import optuna
import pytest
from conftest import runs

from antelope.cli import main
from antelope.sweeps import studies

MODELS = Path(__file__).parent / "models.py"
RUN = ["train_steps=10", "evaluate_per_steps=0", "system_metrics=false", "batch_size=32"]


def test_a_run_out_of_memory_ends_failed_with_one_line(capsys):
    assert main([f"model={MODELS}:RunsOutOfMemory", "model.width=4096", *RUN]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("ml: error: out of memory at step 3 with batch_size=32 on cpu (")
    assert "GiB free of" in err and "lower batch_size= (with grad_accumulation=" in err
    assert list(runs()["status"]) == ["FAILED"]


@pytest.mark.slow  # a whole sweep
def test_a_trial_out_of_memory_fails_with_its_reason_and_the_sweep_goes_on(capsys):
    assert (
        main(
            [
                "-m",
                f"model={MODELS}:RunsOutOfMemory",
                "model.width=choice(16,4096)",
                "sweep.sampler=grid",
                "sweep.trials=2",
                "sweep.pruner=none",
                *RUN,
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "failed (OutOfMemory: out of memory at step 3 with batch_size=32 on cpu" in err
    table = runs("Digits")
    trials = table[table["tags.antelope.trial"].notna()]
    assert dict(zip(trials["params.model.width"], trials["status"], strict=True)) == {
        "16": "FINISHED",
        "4096": "FAILED",
    }
    study = optuna.load_study(
        study_name=trials["tags.antelope.sweep"].iloc[0], storage=studies.open_storage("optuna.journal")
    )
    failed = {t.params["model.width"]: t for t in study.trials}[4096]
    assert failed.state.name == "FAIL" and failed.user_attrs["failure"].startswith("OutOfMemory: out of memory")
