"""optim: torch's optimizers and schedulers as config-group options, custom ones by dotted path, and building
them from a composed config node."""

import io
import re

import pytest
import torch
from omegaconf import ListConfig

from antelope import ConfigError, config
from antelope.config import optimizers as optim


class SignDescent(torch.optim.Optimizer):
    """An optimizer outside torch.optim: steps each parameter by -lr * sign(gradient)."""

    def __init__(self, params, lr=0.1, shrink=0.0):
        super().__init__(params, dict(lr=lr, shrink=shrink))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p.mul_(1 - group["shrink"]).add_(p.grad.sign(), alpha=-group["lr"])


def parameters():
    weight = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    weight.grad = torch.tensor([0.5, -3.0])
    return [weight]


def test_every_torch_optimizer_and_configurable_scheduler_is_an_option():
    optim.register_options()
    assert {"SGD", "Adam", "AdamW", "RMSprop"} <= set(optim.options("optim"))
    schedulers = set(optim.options("scheduler"))
    assert {"CosineAnnealingLR", "StepLR", "OneCycleLR"} <= schedulers
    assert not {"LambdaLR", "ReduceLROnPlateau", "SequentialLR", "LRScheduler"} & schedulers
    assert {"lr", "momentum", "nesterov"} <= set(optim.option_keys("optim", "SGD"))
    assert "params" not in optim.option_keys("optim", "SGD") and "_target_" not in optim.option_keys("optim", "SGD")
    assert "last_epoch" not in optim.option_keys("scheduler", "StepLR")


def test_a_dotted_path_to_an_optimizer_class_becomes_an_option():
    optim.register_options()
    name = f"{__name__}.SignDescent"
    optim.check_option("optim", name)
    assert name in optim.options("optim") and optim.option_keys("optim", name) == ["lr", "shrink"]
    cfg, _ = config.compose([f"optim={name}", "optim.lr=0.5"])
    optimizer = optim.build_optimizer(cfg.optim, parameters())
    assert isinstance(optimizer, SignDescent) and optimizer.defaults == {"lr": 0.5, "shrink": 0.0}
    optimizer.step()
    assert optimizer.param_groups[0]["params"][0].tolist() == [0.5, -1.5]


@pytest.mark.parametrize(
    "group, name, message",
    [
        ("optim", "Adamm", "unknown optimizer optim='Adamm' (did you mean 'Adam'?); choose one of ASGD, "),
        ("scheduler", "StepLr", "unknown scheduler scheduler='StepLr' (did you mean 'StepLR'?)"),
        ("optim", "os.system", "optim='os.system' is not a torch.optim.optimizer.Optimizer subclass"),
        ("scheduler", "torch.optim.SGD", "is not a torch.optim.lr_scheduler.LRScheduler subclass"),
        ("optim", "no.such.Optimizer", "cannot import 'no.such.Optimizer': no module named 'no'"),
    ],
)
def test_an_unknown_or_wrong_option_is_a_config_error(group, name, message):
    optim.register_options()
    with pytest.raises(ConfigError, match=re.escape(message)):
        optim.check_option(group, name)
    assert name not in optim.options(group)


def test_the_optimizer_and_scheduler_are_built_from_the_composed_config():
    cfg, _ = config.compose(
        [
            "optim=SGD",
            "optim.lr=0.5",
            "optim.momentum=0.9",
            "scheduler=StepLR",
            "scheduler.step_size=2",
            "scheduler.gamma=0.5",
        ]
    )
    optimizer = optim.build_optimizer(cfg.optim, parameters())
    assert type(optimizer) is torch.optim.SGD
    assert (optimizer.defaults["lr"], optimizer.defaults["momentum"]) == (0.5, 0.9)
    scheduler = optim.build_scheduler(cfg.scheduler, optimizer)
    assert type(scheduler) is torch.optim.lr_scheduler.StepLR
    for _ in range(2):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["lr"] == 0.25


def test_list_arguments_arrive_as_plain_python_so_the_state_saves_weights_only():
    cfg, _ = config.compose(
        ["optim=NAdam", "optim.betas=[0.8,0.9]", "scheduler=MultiStepLR", "scheduler.milestones=[2,4]"]
    )
    optimizer = optim.build_optimizer(cfg.optim, parameters())
    scheduler = optim.build_scheduler(cfg.scheduler, optimizer)
    betas = optimizer.param_groups[0]["betas"]
    assert list(betas) == [0.8, 0.9] and isinstance(betas, (list, tuple)) and not isinstance(betas, ListConfig)
    assert sorted(scheduler.milestones) == [2, 4]
    optimizer.step()
    scheduler.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert list(state["optimizer"]["param_groups"][0]["betas"]) == [0.8, 0.9]
    assert state["scheduler"]["last_epoch"] == 1


def test_no_scheduler_is_none():
    optimizer = torch.optim.SGD(parameters(), lr=0.1)
    assert optim.build_scheduler(config.compose([])[0].scheduler, optimizer) is None
    assert optim.build_scheduler(config.compose(["scheduler=none"])[0].scheduler, optimizer) is None


def test_a_missing_required_argument_names_its_key():
    cfg, _ = config.compose(["scheduler=StepLR"])
    optimizer = optim.build_optimizer(cfg.optim, parameters())
    with pytest.raises(
        ConfigError, match=re.escape("scheduler=StepLR needs scheduler.step_size: set scheduler.step_size=...")
    ):
        optim.build_scheduler(cfg.scheduler, optimizer)
    cfg, _ = config.compose(["scheduler=CosineAnnealingLR"])
    with pytest.raises(
        ConfigError, match=re.escape("needs scheduler.T_max: set scheduler.T_max=... (or lr_decay_epochs=N)")
    ):
        optim.build_scheduler(cfg.scheduler, optimizer)


def test_an_invalid_value_is_the_classes_own_error_in_one_line():
    cfg, _ = config.compose(["optim.lr=-1"])
    with pytest.raises(ConfigError, match=re.escape("cannot build optim=Adam: Invalid learning rate: -1")):
        optim.build_optimizer(cfg.optim, parameters())
