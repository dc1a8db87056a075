"""Checkpoints and resume: a stopped run continues as the same MLflow run and ends where an
uninterrupted one would."""
import os

import mlflow
import pytest
import torch
from conftest import runs
from models import Diverges, Model, SignalsItself, Wider

from antelope import ConfigError, ml
from antelope.errors import TrainingError
from antelope.interrupts import Interrupted

FAST = dict(dataset="Digits", train_steps=60, evaluate_per_steps=20, log_per_steps=10, seed=3)


@pytest.fixture(autouse=True)
def fresh_counters():
    SignalsItself.calls, SignalsItself.fired, Diverges.calls = 0, False, 0


def _checkpoints(run_id):
    folder = mlflow.MlflowClient().get_run(run_id).info.artifact_uri + "/checkpoints"
    return sorted(os.listdir(folder)), folder


def test_checkpoints_every_n_steps_keep_the_last_k_and_load_safely():
    result = ml(model=Model, **FAST, save_per_steps=10, keep_checkpoints=2)
    names, folder = _checkpoints(result.run_id)
    assert names == ["step_000000050.pt", "step_000000060.pt"]
    state = torch.load(os.path.join(folder, names[-1]), weights_only=True)
    assert state["step"] == 60 and state["run_id"] == result.run_id
    assert {"model", "update", "replay", "rng", "log"} <= set(state)
    assert torch.equal(state["model"]["MLP.1.weight"], result.model.MLP[1].weight.detach())


@pytest.mark.parametrize("augment", [[], ["flip", "shift"]])  # augmentation's random draws resume too
def test_interrupted_run_resumes_as_the_same_run_and_matches_an_uninterrupted_one(augment):
    reference = ml(model=Model, **FAST, save_per_steps=1000, augment=augment)
    with pytest.raises(Interrupted):
        ml(model=SignalsItself, **FAST, save_per_steps=1000, augment=augment)  # SIGINT at step 35
    table = runs()
    stopped = table[table["run_id"] != reference.run_id].iloc[0]
    assert stopped["status"] == "KILLED"
    assert _checkpoints(stopped["run_id"])[0] == ["step_000000035.pt"]

    resumed = ml(model=Model, resume=stopped["run_id"])
    assert resumed.run_id == stopped["run_id"]
    client = mlflow.MlflowClient()
    run = client.get_run(resumed.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["resume_count"] == "1"
    assert run.data.params["train_steps"] == "60"  # params recorded once, unchanged
    assert resumed.metrics == pytest.approx(reference.metrics, abs=1e-6)
    losses = {m.step: m.value for m in client.get_metric_history(resumed.run_id, "train/loss")}
    expected = {m.step: m.value for m in client.get_metric_history(reference.run_id, "train/loss")}
    assert sorted(losses) == sorted(expected) == [10, 20, 30, 40, 50, 60]  # the step axis continues
    assert losses == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(resumed.model.MLP[1].weight, reference.model.MLP[1].weight, atol=1e-6)


def test_load_true_continues_the_latest_run_of_the_experiment():
    with pytest.raises(Interrupted):
        ml(model=SignalsItself, **FAST)
    killed = runs().iloc[0]
    resumed = ml(model=Model, load=True)
    assert resumed.run_id == killed["run_id"]
    assert mlflow.MlflowClient().get_run(resumed.run_id).info.status == "FINISHED"


def test_resume_errors_are_clear():
    result = ml(model=Model, **FAST)
    with pytest.raises(ConfigError, match="does not fit Wider"):
        ml(model=Wider, resume=result.run_id)
    with pytest.raises(ConfigError, match="drop lr"):
        ml(model=Model, resume=result.run_id, lr=0.1)
    with pytest.raises(ConfigError, match="resume='nope': no such MLflow run"):
        ml(model=Model, resume="nope")
    names, folder = _checkpoints(result.run_id)
    with open(os.path.join(folder, names[-1]), "wb") as file:
        file.write(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot load checkpoint .*step_000000060.pt"):
        ml(model=Model, resume=result.run_id)
    assert "RUNNING" not in set(runs()["status"])


def test_a_nan_loss_is_an_error_naming_the_step():
    with pytest.raises(TrainingError, match="the loss became nan at step 23"):
        ml(model=Diverges, **FAST)
    assert list(runs()["status"]) == ["FAILED"]
