"""Optimizers and schedulers as config groups: `optim=SGD optim.lr=1e-2 scheduler=CosineAnnealingLR`.

Every optimizer class in `torch.optim` and every scheduler in `torch.optim.lr_scheduler` is an option
of its group, its node holding the class's own keyword defaults (so `ml --cfg` shows them and a typo
such as `optim.lrr` is an error). Any other importable class is an option by its dotted path
(`optim=mypackage.Lion`), registered when first named.

The shorthands: `lr=X` sets `optim.lr`; `lr_decay_epochs=N` picks `scheduler=CosineAnnealingLR` with
`T_max=N`, stepped once per epoch. A key given explicitly (`optim.lr=...`) wins over its shorthand,
with a warning.
"""
import inspect

import torch

from .errors import ConfigError
from .imports import did_you_mean, import_target

# Schedulers whose arguments are Python objects (functions, other schedulers) or that step on a metric:
# they cannot be written as config values.
_UNCONFIGURABLE_SCHEDULERS = {"LambdaLR", "MultiplicativeLR", "ChainedScheduler", "SequentialLR",
                              "ReduceLROnPlateau", "LRScheduler"}
# Scheduler arguments that are not hyperparameters.
_SKIPPED_ARGUMENTS = {"last_epoch", "verbose"}

_options = {"optim": {}, "scheduler": {}}  # group -> {option name: its config node}


def _builtin_options():
    optimizers = {name: cls for name, cls in vars(torch.optim).items()
                  if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)
                  and cls is not torch.optim.Optimizer}
    schedulers = {name: cls for name, cls in vars(torch.optim.lr_scheduler).items()
                  if isinstance(cls, type) and issubclass(cls, torch.optim.lr_scheduler.LRScheduler)
                  and not name.startswith("_") and name not in _UNCONFIGURABLE_SCHEDULERS}
    return {"optim": optimizers, "scheduler": schedulers}


def register_options():
    """Register every torch optimizer and scheduler as a config-group option (once per process)."""
    from hydra.core.config_store import ConfigStore  # Hydra is imported when first used, not by `import antelope`

    if _options["optim"]:
        return
    for group, classes in _builtin_options().items():
        for name, cls in sorted(classes.items()):
            _register(group, name, cls)
    ConfigStore.instance().store(group="scheduler", name="none", node={})


def _register(group, name, cls):
    from hydra.core.config_store import ConfigStore
    from omegaconf import MISSING

    node = {"_target_": f"{cls.__module__}.{cls.__qualname__}"}
    for parameter in list(inspect.signature(cls).parameters.values())[1:]:  # skip params / optimizer
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) or parameter.name in _SKIPPED_ARGUMENTS:
            continue
        default = parameter.default
        if default is parameter.empty:
            node[parameter.name] = MISSING
        elif isinstance(default, tuple) and all(isinstance(v, (int, float)) for v in default):
            node[parameter.name] = list(default)
        elif default is None or isinstance(default, (bool, int, float, str)):
            node[parameter.name] = default
    ConfigStore.instance().store(group=group, name=name, node=node)
    _options[group][name] = node


def check_option(group, name):
    """Make sure `group=name` names an option, registering an importable dotted path on first use."""
    if name in _options[group] or (group == "scheduler" and name == "none"):
        return
    kind = "optimizer" if group == "optim" else "scheduler"
    if "." not in name:
        raise ConfigError(f"unknown {kind} {group}={name!r}{did_you_mean(name, _options[group])}; "
                          f"choose one of {', '.join(sorted(_options[group]))}, or a dotted path to a class")
    cls = import_target(name)
    base = torch.optim.Optimizer if group == "optim" else torch.optim.lr_scheduler.LRScheduler
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ConfigError(f"{group}={name!r} is not a {base.__module__}.{base.__name__} subclass")
    _register(group, name, cls)


def options(group):
    """The option names of a group, for error messages and `ml --help`."""
    return sorted(_options[group])


def option_keys(group, name):
    """The config keys of one option (`optim=SGD` -> lr, momentum, ...), for 'did you mean' hints."""
    return [k for k in _options[group].get(name, {}) if k != "_target_"]


def build_optimizer(node, parameters):
    """The optimizer a config node describes, over `parameters`."""
    return _instantiate("optim", node, parameters)


def build_scheduler(node, optimizer):
    """The scheduler a config node describes (None for `scheduler=none` / no scheduler)."""
    if node is None or "_target_" not in node:
        return None
    return _instantiate("scheduler", node, optimizer)


def _instantiate(group, node, first_argument):
    from omegaconf import OmegaConf

    kwargs = OmegaConf.to_container(node, resolve=True, throw_on_missing=False)
    target = kwargs.pop("_target_")
    missing = [k for k, v in kwargs.items() if v == "???"]
    if missing:
        hint = " (or lr_decay_epochs=N)" if missing == ["T_max"] else ""
        raise ConfigError(f"{group}={target.rsplit('.', 1)[-1]} needs {', '.join(f'{group}.{k}' for k in missing)}: "
                          f"set {group}.{missing[0]}=...{hint}")
    cls = import_target(target)
    try:
        return cls(first_argument, **kwargs)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"cannot build {group}={cls.__name__}: {error} (its settings: ml --cfg)") from None


class Update:
    """What the trainer does with each loss `learn` returns: backward (divided over `accumulation`
    calls, scaled for fp16), then once per step: unscale, clip the gradient norm, step, zero the
    gradients; and the scheduler, once per step or once per completed epoch."""

    def __init__(self, optimizer, scheduler, cfg, device, group=None):
        self.optimizer, self.scheduler, self.group = optimizer, scheduler, group  # group: torchrun processes
        self.accumulation, self.clip, self.per_step = cfg.grad_accumulation, cfg.grad_clip, cfg.scheduler_interval == "step"
        self.scaler = torch.amp.GradScaler(device.type, enabled=cfg.precision == "fp16")
        self.scaling = self.scaler.is_enabled()  # only fp16 scales; otherwise the scaler is skipped (hot path)
        self.parameters = [p for group in optimizer.param_groups for p in group["params"]]
        self.epoch = 0

    def backward(self, loss):
        if self.accumulation > 1:
            loss = loss / self.accumulation
        (self.scaler.scale(loss) if self.scaling else loss).backward()

    def step(self, epoch):
        if self.group is not None:
            from .distributed import average_gradients

            average_gradients(self.group, self.parameters)
        if self.clip is not None:
            if self.scaling:
                self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.parameters, self.clip)
        if self.scaling:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            for _ in range(1 if self.per_step else epoch - self.epoch):
                self.scheduler.step()
        self.epoch = epoch

    def any_process(self, flag):
        """Whether `flag` is true in any of the torchrun processes (one small all-reduce)."""
        from .distributed import any_process

        return any_process(self.group, flag, self.parameters[0].device)

    @property
    def lr(self):
        return self.optimizer.param_groups[0]["lr"]

    def state_dict(self):
        return {"optimizer": self.optimizer.state_dict(), "scaler": self.scaler.state_dict(), "epoch": self.epoch,
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None}

    def load_state_dict(self, state):
        self.optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch = state["epoch"]
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
