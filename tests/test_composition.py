"""config: composing override lines into the validated config (defaults, groups, shorthands, aliases, bad
input), the experiment's name, the options chosen and the documented keys."""

import importlib
import re

import pytest

from antelope import ConfigError, config
from antelope.config import schema


def test_defaults_come_from_the_config_dataclass():
    cfg, explicit = config.compose([])
    assert explicit == set()
    assert cfg.optim._target_ == "torch.optim.adam.Adam" and cfg.optim.lr == 0.001
    assert cfg.scheduler is None
    assert cfg.model._target_ == config.DEFAULT_MODEL
    assert (cfg.dataset, cfg.train_steps, cfg.epochs, cfg.batch_size) == ("Digits", 1000, None, 64)
    assert (cfg.precision, cfg.scheduler_interval, cfg.augment, cfg.sweep.trials) == ("fp32", "epoch", [], 20)


def test_a_group_option_is_picked_and_tuned_with_dots():
    cfg, explicit = config.compose(["optim=SGD", "optim.lr=0.05", "optim.momentum=0.9"])
    assert cfg.optim._target_ == "torch.optim.sgd.SGD"
    assert (cfg.optim.lr, cfg.optim.momentum, cfg.optim.nesterov) == (0.05, 0.9, False)  # the rest: SGD's defaults
    assert "betas" not in cfg.optim  # Adam's keys are gone with Adam
    assert explicit == {"optim", "optim.lr", "optim.momentum"}


def test_lr_sets_optim_lr_unless_optim_lr_is_given():
    assert config.compose(["optim=SGD", "lr=0.1"])[0].optim.lr == 0.1
    with pytest.warns(UserWarning, match=re.escape("lr=0.1 is not used: optim.lr=0.2 was given explicitly")):
        cfg, _ = config.compose(["lr=0.1", "optim.lr=0.2"])
    assert cfg.optim.lr == 0.2


def test_lr_decay_epochs_picks_a_cosine_schedule_over_that_many_epochs():
    cfg, _ = config.compose(["lr_decay_epochs=7"])
    assert cfg.scheduler._target_ == "torch.optim.lr_scheduler.CosineAnnealingLR" and cfg.scheduler.T_max == 7
    assert cfg.scheduler.eta_min == 0.0 and cfg.scheduler_interval == "epoch"


def test_an_explicit_scheduler_or_t_max_wins_over_lr_decay_epochs():
    with pytest.warns(
        UserWarning,
        match=re.escape(
            "lr_decay_epochs=7 is not used: scheduler=torch.optim.lr_scheduler.StepLR was given explicitly"
        ),
    ):
        cfg, _ = config.compose(["lr_decay_epochs=7", "scheduler=StepLR", "scheduler.step_size=2"])
    assert cfg.scheduler._target_.endswith(".StepLR") and cfg.scheduler.step_size == 2
    with pytest.warns(UserWarning, match=re.escape("lr_decay_epochs=7 is not used: scheduler.T_max=3 was given")):
        cfg, _ = config.compose(["lr_decay_epochs=7", "scheduler.T_max=3"])
    assert cfg.scheduler.T_max == 3


def test_model_and_agent_name_the_model_and_its_keys_are_constructor_arguments():
    cfg, explicit = config.compose(["model=MLP", "model.depth=3"])
    assert dict(cfg.model) == {"_target_": "MLP", "depth": 3}
    assert explicit == {"model._target_", "model.depth"}
    cfg, _ = config.compose(["agent=MLP", "agent.width=8"])
    assert dict(cfg.model) == {"_target_": "MLP", "width": 8}
    with pytest.raises(ConfigError, match=re.escape("the model is given twice ('agent=B')")):
        config.compose(["model=A", "agent=B"])


def test_one_augmentation_is_a_list_of_one():
    assert config.compose(["augment=flip"])[0].augment == ["flip"]
    assert config.compose(["augment=[flip,shift]"])[0].augment == ["flip", "shift"]


def test_an_env_anneals_the_lr_over_train_steps_each_step_unless_a_scheduler_is_given():
    cfg, explicit = config.compose(["env=CartPole-v1", "train_steps=50"])
    assert cfg.scheduler._target_.endswith(".CosineAnnealingLR") and cfg.scheduler.T_max == 50
    assert cfg.scheduler_interval == "step"
    assert explicit == {"env", "train_steps"}  # implied, not given
    assert config.compose(["env=CartPole-v1", "scheduler_interval=epoch"])[0].scheduler_interval == "epoch"
    cfg, _ = config.compose(["env=CartPole-v1", "scheduler=StepLR", "scheduler.step_size=3"])
    assert cfg.scheduler._target_.endswith(".StepLR") and cfg.scheduler_interval == "epoch"
    cfg, _ = config.compose(["env=CartPole-v1", "lr_decay_epochs=4"])
    assert cfg.scheduler.T_max == 4 and cfg.scheduler_interval == "epoch"
    # learning every 3rd env step makes ceil(50 / 3) optimizer steps: the schedule spans those
    assert config.compose(["env=CartPole-v1", "train_steps=50", "learn_per_steps=3"])[0].scheduler.T_max == 17


def test_an_env_gets_a_budget_that_solves_it_and_a_tenth_of_it_random():
    cfg, explicit = config.compose(["env=CartPole-v1"])
    assert cfg.train_steps == config.BUDGETS["CartPole-v1"] and cfg.scheduler.T_max == cfg.train_steps
    assert cfg.random_steps == schema.RANDOM_STEPS == 1000 and "train_steps" not in explicit
    assert config.compose(["env=Pendulum-v1"])[0].train_steps == config.BUDGETS["Pendulum-v1"]
    assert config.compose(["env=Acrobot-v1"])[0].train_steps == schema.DEFAULT_BUDGET  # not in the table
    assert config.compose(["env=CartPole-v1", "train_steps=1000"])[0].random_steps == 100  # never all of it
    assert config.compose(["env=CartPole-v1", "train_steps=5"])[0].random_steps == 0
    assert config.compose(["env=CartPole-v1", "random_steps=7"])[0].random_steps == 7
    assert config.compose([])[0].train_steps == 1000  # a dataset's default is unchanged


def test_composing_the_same_group_choice_again_reuses_hydras_composition(monkeypatch):
    import hydra

    calls = []
    compose = hydra.compose
    monkeypatch.setattr(hydra, "compose", lambda *a, **k: calls.append(k["overrides"]) or compose(*a, **k))
    monkeypatch.setattr(importlib.import_module("antelope.config.composition"), "_COMPOSED", {})
    first, _ = config.compose(["optim=SGD", "optim.lr=0.1", "batch_size=8"])
    second, _ = config.compose(["optim=SGD", "optim.momentum=0.5"])
    assert calls == [["optim=SGD"]]  # once for the choice optim=SGD
    assert (first.optim.lr, first.optim.momentum, first.batch_size) == (0.1, 0, 8)
    assert (second.optim.lr, second.optim.momentum, second.batch_size) == (0.001, 0.5, 64)  # SGD's default lr
    first.optim.lr = 0.3
    first.augment.append("flip")
    assert second.optim.lr == 0.001 and second.augment == []
    assert config.compose(["optim=SGD"])[0].optim.lr == 0.001


BAD = [
    (["trian_steps=5"], "unknown config key 'trian_steps' (did you mean 'train_steps'?)"),
    (["optim.lrr=0.1"], "unknown config key 'optim.lrr' (did you mean 'optim.lr'"),
    (["optim=SGD", "optim.betas=[0.9,0.99]"], "unknown config key 'optim.betas'"),
    (["+colour=red"], "keys cannot be added"),
    (["batch_size=many"], "bad value for batch_size"),
    (["lr=fast"], "bad value for lr"),
    (["batch_size=0"], "batch_size=0 must be a positive integer"),
    (["train_steps=-5"], "train_steps=-5 must be a positive integer"),
    (["evaluate_per_steps=-1"], "evaluate_per_steps=-1 must be >= 0"),
    (["precision=fp8"], "precision='fp8' is not valid: choose one of fp32, bf16, fp16"),
    (["scheduler_interval=hour"], "scheduler_interval='hour' is not valid: choose one of epoch, step"),
    (["device=tpu"], "device='tpu' is not valid: choose auto, cpu, cuda, cuda:N or mps"),
    (["epochs=2", "train_steps=10"], "give either train_steps=10 or epochs=2, not both"),
    (["optim=Adamm"], "unknown optimizer optim='Adamm' (did you mean 'Adam'"),
    (["scheduler=Cosine"], "unknown scheduler scheduler='Cosine'"),
    (["optim=os.system"], "optim='os.system' is not a torch.optim.optimizer.Optimizer subclass"),
    (["optim=no.such.Optimizer"], "cannot import 'no.such.Optimizer': no module named 'no'"),
    (["lr==3"], "cannot parse override 'lr==3'"),
    (["optim.lr=tag(log"], "cannot parse override 'optim.lr=tag(log'"),
    (["optim.lr=interval(0.1,1)"], "requires --multirun"),
    (["augment=blur"], "augment='blur' is not valid: choose from flip, shift"),
    (["env=CartPole-v1", "envs=0"], "envs=0 must be a positive integer"),
    (["env=CartPole-v1", "learn_per_steps=0"], "learn_per_steps=0 must be a positive integer"),
    (["threads=0"], "threads=0 must be a positive integer"),
    (["envs=4"], "envs=4 applies to reinforcement learning; it needs env="),
    (["learn_per_steps=2"], "learn_per_steps=2 applies to reinforcement learning; it needs env="),
    (
        ["env=CartPole-v1", "train_steps=1000", "random_steps=1000"],
        "random_steps=1000 is all of train_steps=1000: the model would never act",
    ),
    (["env=CartPole-v1", "random_steps=-1"], "random_steps=-1 must be >= 0"),
]


@pytest.mark.parametrize("overrides, message", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_input_is_a_config_error_naming_the_bad_value(overrides, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.compose(overrides)


def test_experiment_name_is_given_or_derived_from_the_env_or_dataset(workdir):
    (workdir / "flowers.csv").write_text("x,label\n1,0\n")
    (workdir / "pets").mkdir()
    named = {
        ("experiment=mine", "env=ALE/Pong-v5"): "mine",
        ("env=ALE/Pong-v5",): "ALE-Pong-v5",
        ("dataset=flowers.csv",): "flowers",
        ("dataset=pets/",): "pets",
        ("dataset=CIFAR10",): "CIFAR10",
        ("dataset=mypackage.data.Faces",): "Faces",
        (): "Digits",
    }
    assert {given: config.experiment_name(config.compose(list(given))[0]) for given in named} == named


def test_chosen_options_are_the_defaults_the_given_options_and_the_lr_decay_rule():
    assert config.chosen_options({}) == {"optim": "Adam", "scheduler": "none"}
    assert config.chosen_options({"optim": "SGD", "scheduler": "StepLR"}) == {"optim": "SGD", "scheduler": "StepLR"}
    assert config.chosen_options({"lr_decay_epochs": 10}) == {"optim": "Adam", "scheduler": "CosineAnnealingLR"}
    assert config.chosen_options({"lr_decay_epochs": 10, "scheduler": "StepLR"})["scheduler"] == "StepLR"
    assert config.chosen_options({"lr_decay_epochs": None})["scheduler"] == "none"
    assert config.chosen_options({"optim": "torch.optim.SGD", "scheduler": "torch.optim.lr_scheduler.StepLR"}) == {
        "optim": "SGD",
        "scheduler": "StepLR",
    }


def test_keys_lists_every_top_level_key_with_its_doc():
    listed = {name: (default, doc) for name, default, doc in config.keys()}
    assert set(listed) == set(config.Config.__dataclass_fields__) - {"defaults"}
    assert all(doc for _, doc in listed.values())
    assert listed["train_steps"][0] == 1000 and listed["precision"][0] == "fp32"
    assert "defaults" not in listed and {"model", "optim", "scheduler", "sweep"} <= set(listed)


def test_generate_gives_the_trainers_adam_a_gans_settings_unless_the_optimizer_is_given():
    from antelope.config.schema import GENERATIVE_ADAM

    def adam(*overrides):
        optim = config.compose(list(overrides))[0].optim
        return optim._target_.rsplit(".", 1)[1], optim.get("lr"), list(optim.get("betas", []))

    assert adam("generate=true") == ("Adam", GENERATIVE_ADAM["lr"], GENERATIVE_ADAM["betas"])
    assert adam("generate=true", "lr=0.01") == ("Adam", 0.01, GENERATIVE_ADAM["betas"])
    assert adam("generate=true", "optim.betas=[0.9,0.99]") == ("Adam", GENERATIVE_ADAM["lr"], [0.9, 0.99])
    assert adam("generate=true", "optim=SGD")[:2] == ("SGD", 0.001)
    assert adam() == ("Adam", 0.001, [0.9, 0.999]) and adam("generate=false") == adam()


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["keep_model=worst"], r"^keep_model='worst' is not valid: choose one of best, last$"),
        (["keep_model=best", "evaluate_per_steps=0"], r"^keep_model=best picks the best of a run's evaluations, "),
    ],
)
def test_keep_model_is_best_or_last_and_best_needs_evaluations_to_pick_from(overrides, message):
    with pytest.raises(ConfigError, match=message):
        config.compose(overrides)
    assert config.compose(["evaluate_per_steps=0"])[0].keep_model == "best"  # the default: the one evaluation
