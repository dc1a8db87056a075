"""What a run records is what ran: its params, read back through MLflow's own client, against the live objects
(the optimizer and scheduler that stepped, the env and agent that acted), for each kind of run."""

import mlflow
import pytest
import torch
from conftest import runs
from models import Model, OwnScheduler, SelfOptimizing

from antelope import ml, sweep
from antelope.config import DATA_KEYS, RL_KEYS, START_KEYS

pytestmark = pytest.mark.slow
QUICK = dict(train_steps=4, evaluate_per_steps=0, system_metrics=False)


def params(run_id):
    return mlflow.MlflowClient().get_run(run_id).data.params


def sections(recorded):
    """The top-level keys of recorded params (optim.lr -> optim)."""
    return {key.split(".")[0] for key in recorded}


def settings(recorded, prefix):
    return {key.removeprefix(prefix): value for key, value in recorded.items() if key.startswith(prefix)}


def as_recorded(value):
    return str(list(value) if isinstance(value, tuple) else value)


def test_the_default_model_records_the_trainers_optimizer_and_no_key_that_did_not_apply():
    result = ml(**QUICK)
    recorded = params(result.run_id)
    adam = torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # the default optimizer, as torch builds it
    optim = settings(recorded, "optim.")
    assert optim.pop("_target_") == "torch.optim.adam.Adam"
    assert optim == {key: as_recorded(value) for key, value in adam.defaults.items()}
    assert not sections(recorded) & {*RL_KEYS, *START_KEYS, "lr", "lr_decay_epochs", "epochs"}
    assert recorded["scheduler"] == "None" and "scheduler_interval" not in recorded  # no scheduler ran
    assert "label_column" not in recorded and "dataset_root" not in recorded  # Digits is neither a table nor downloaded
    assert recorded["train_steps"] == "4" and recorded["dataset"] == "Digits"


def test_a_model_with_its_own_optimizer_records_that_optimizer_and_not_the_one_it_ignored():
    result = ml(model=SelfOptimizing, **QUICK)
    recorded, own = params(result.run_id), result.model.optim
    assert recorded["optim._target_"] == "torch.optim.adam.Adam"
    assert float(recorded["optim.lr"]) == own.param_groups[0]["lr"] == 1e-2  # not the trainer's default 1e-3
    assert {key: recorded[f"optim.{key}"] for key in own.defaults} == {
        key: as_recorded(own.param_groups[0][key]) for key in own.defaults
    }
    assert recorded["scheduler"] == "None"
    assert not {"grad_clip", "scheduler_interval", "lr"} & set(recorded)


def test_a_model_with_its_own_scheduler_records_its_param_groups_and_schedule():
    result = ml(model=OwnScheduler, **QUICK)
    recorded, own, schedule = params(result.run_id), result.model.optim, result.model.schedule
    assert recorded["optim._target_"] == "torch.optim.sgd.SGD"
    # the lr of each param group as it was set (the schedule has moved the live one since)
    assert recorded["optim.lr"] == str([group["initial_lr"] for group in own.param_groups]) == "[0.0001, 0.02]"
    assert float(recorded["optim.momentum"]) == own.param_groups[0]["momentum"]
    assert recorded["scheduler._target_"] == "torch.optim.lr_scheduler.CosineAnnealingLR"
    assert (int(recorded["scheduler.T_max"]), float(recorded["scheduler.eta_min"])) == (
        schedule.T_max,
        schedule.eta_min,
    )


def test_a_sweep_trial_records_its_drawn_values_and_its_parent_the_sweep_settings_that_ran():
    study = sweep(
        "optim.lr=tag(log, interval(1e-3, 1e-1))",
        model=Model,
        train_steps=20,
        evaluate_per_steps=10,
        log_per_steps=10,
        system_metrics=False,
        **{"sweep.trials": 2, "sweep.pruner": "halving", "sweep.sampler": "random"},
    )
    table = runs("Digits")
    parent = table[table["tags.antelope.role"] == "sweep"].iloc[0]
    assert (parent["params.sweep.pruner"], parent["params.sweep.sampler"]) == ("halving", "random")
    children = table[table["tags.mlflow.parentRunId"] == parent["run_id"]]
    assert len(children) == 2
    for trial in study.trials:
        recorded = params(trial.user_attrs["mlflow_run_id"])
        assert float(recorded["optim.lr"]) == trial.params["optim.lr"]
        assert "sweep" not in sections(recorded)  # the parent run holds them, the same for every trial


def test_an_rl_run_records_the_env_and_the_agents_own_optimizers_and_no_dataset_key():
    result = ml(**{**QUICK, "train_steps": 30}, env="Pendulum-v1", model="DDPG", random_steps=10, evaluate_episodes=1)
    recorded = params(result.run_id)
    assert recorded["env"] == "Pendulum-v1" and recorded["discount"] == "0.99"
    assert not sections(recorded) & {*DATA_KEYS, *START_KEYS}
    for name in ("actor_optim", "critic_optim"):
        own = getattr(result.model, name)
        assert recorded[f"optim.{name}._target_"] == "torch.optim.adam.Adam"
        assert float(recorded[f"optim.{name}.lr"]) == own.param_groups[0]["lr"]


def test_a_recorded_run_reproduces_from_what_it_recorded():
    first = ml(model=OwnScheduler, **QUICK)
    again = ml(reproduce=first.run_id)  # models.OwnScheduler, by its recorded name
    assert params(again.run_id) == params(first.run_id)
    assert again.metrics == first.metrics
