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

from ..errors import ConfigError
from ..imports import did_you_mean, import_target

# Schedulers whose arguments are Python objects (functions, other schedulers) or that step on a metric:
# they cannot be written as config values.
_UNCONFIGURABLE_SCHEDULERS = {
    "LambdaLR",
    "MultiplicativeLR",
    "ChainedScheduler",
    "SequentialLR",
    "ReduceLROnPlateau",
    "LRScheduler",
}
# Scheduler arguments that are not hyperparameters.
_SKIPPED_ARGUMENTS = {"last_epoch", "verbose"}

_options: dict[str, dict[str, dict]] = {"optim": {}, "scheduler": {}}  # group -> {option name: its config node}


def _builtin_options():
    import torch  # when options are first needed: `ml --help` and `ml runs` do without torch

    optimizers = {
        name: cls
        for name, cls in vars(torch.optim).items()
        if isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer) and cls is not torch.optim.Optimizer
    }
    schedulers = {
        name: cls
        for name, cls in vars(torch.optim.lr_scheduler).items()
        if isinstance(cls, type)
        and issubclass(cls, torch.optim.lr_scheduler.LRScheduler)
        and not name.startswith("_")
        and name not in _UNCONFIGURABLE_SCHEDULERS
    }
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

    node: dict[str, object] = {"_target_": f"{cls.__module__}.{cls.__qualname__}"}
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
        raise ConfigError(
            f"unknown {kind} {group}={name!r}{did_you_mean(name, _options[group])}; "
            f"choose one of {', '.join(sorted(_options[group]))}, or a dotted path to a class"
        )
    import torch

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
    """Hydra's `instantiate`, with plain Python containers (a ListConfig in an optimizer's param_groups
    would not survive a weights-only checkpoint) and its errors as one line."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    name = node._target_.rsplit(".", 1)[-1]
    missing = sorted(key.removeprefix(f"{group}.") for key in OmegaConf.missing_keys(node))  # full keys
    if missing:
        hint = " (or lr_decay_epochs=N)" if missing == ["T_max"] else ""
        raise ConfigError(
            f"{group}={name} needs {', '.join(f'{group}.{k}' for k in missing)}: set {group}.{missing[0]}=...{hint}"
        )
    try:
        return instantiate(node, first_argument, _convert_="all")
    except InstantiationException as error:
        cause = error.__cause__ or error
        raise ConfigError(f"cannot build {group}={name}: {cause} (its settings: ml --cfg)") from None
