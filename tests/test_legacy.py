"""Runs recorded by earlier code (tests/data/legacy, made by its make_legacy.py at commit d969fb7, before the
package was split into rooms) still load, fork, reproduce and resume: a moved module must not strand a
researcher's records. The store is copied and its recorded absolute paths rewritten, as moving a folder
that holds an MLflow store needs."""

import shutil
import sqlite3
from pathlib import Path

import mlflow
import pytest
import torch

import antelope
from antelope import ml

pytestmark = pytest.mark.slow

LEGACY = Path(__file__).parent / "data" / "legacy"
RECORDED_AT = "/tmp/legacy"  # where make_legacy.py ran: the store's artifact paths start with it
FINISHED = "b9f62ff6c69a4c43b92d527a0224f06d"  # 20 steps, a logged (pickled) model
KILLED = "7cbb30cb8f294b1baf25f5fef0b3f2f8"  # 30 steps asked, stopped by SIGTERM at step 15 with a checkpoint


@pytest.fixture
def legacy(workdir, monkeypatch):
    store = workdir / "legacy"
    shutil.copytree(LEGACY, store)
    with sqlite3.connect(store / "mlflow.db") as db:
        for table, column in (
            ("experiments", "artifact_location"),
            ("runs", "artifact_uri"),
            ("logged_models", "artifact_location"),
        ):
            db.execute(f"UPDATE {table} SET {column} = replace({column}, ?, ?)", (RECORDED_AT, str(store)))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store / 'mlflow.db'}")
    return store


def test_a_legacy_model_loads_both_ways(legacy):
    model = antelope.load(FINISHED)
    assert type(model).__name__ == "AC2Agent" and type(model).__module__ == "antelope.agents.ac2"
    same = mlflow.pytorch.load_model(f"runs:/{FINISHED}/model")
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(model.eval()(x), same.eval()(x))


def test_a_legacy_model_is_forked(legacy):
    result = ml(
        model=f"runs:/{FINISHED}/model",
        dataset="Digits",
        experiment="legacy",
        train_steps=10,
        evaluate_per_steps=10,
        system_metrics=False,
    )
    tags = mlflow.MlflowClient().get_run(result.run_id).data.tags
    assert tags["antelope.forked_from"] == FINISHED
    assert result.metrics["eval/accuracy"] > 0.3


def test_a_legacy_run_is_reproduced(legacy):
    result = ml(reproduce=FINISHED)
    recorded = mlflow.MlflowClient().get_run(FINISHED).data.metrics["eval/accuracy"]
    assert result.run_id != FINISHED and result.config["train_steps"] == 20
    assert result.metrics["eval/accuracy"] == pytest.approx(recorded)  # same config, same seed, same result


def test_a_legacy_run_is_resumed_from_its_checkpoint(legacy):
    result = ml(resume=KILLED)
    client = mlflow.MlflowClient()
    run = client.get_run(KILLED)
    assert result.run_id == KILLED and run.info.status == "FINISHED" and run.data.tags["resume_count"] == "1"
    steps = [m.step for m in client.get_metric_history(KILLED, "train/loss")]
    assert steps == [10, 20, 30]  # 10 before the stop, 20 and 30 after: no step recorded twice
