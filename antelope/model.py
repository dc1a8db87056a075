"""The model `model=` names: found, built from the data, and wrapped by the default agent when it has no `learn`.

    model=MLP                              a bundled agent by name (antelope/agents)
    model=mypackage.models.Net             a dotted path
    model=path/to/file.py:Net              a file and a class in it
    ml(model=Net) / ml(model=Net(...))     a class or an instance, from Python

A model that keeps its own optimizer (any attribute holding a `torch.optim.Optimizer`, e.g. `self.optim`)
optimizes itself in `learn`; the trainer then steps none of its own.
"""
import torch

from .errors import ConfigError
from .imports import did_you_mean, import_target
from .spec import construct


def resolve(target):
    """The model class or instance that `model=` names: an object, a bundled model's name, a dotted
    path or path/to/file.py:Class."""
    if isinstance(target, str):
        from . import agents

        if "." not in target and ":" not in target:
            if target not in agents.__all__:
                raise ConfigError(f"unknown model {target!r}{did_you_mean(target, agents.__all__)}: give one of "
                                  f"{', '.join(agents.__all__)}, a dotted path or path/to/file.py:ClassName")
            target = getattr(agents, target)
        else:
            target = import_target(target)
    name = target.__name__ if isinstance(target, type) else type(target).__name__
    if not (isinstance(target, torch.nn.Module) or isinstance(target, type) and issubclass(target, torch.nn.Module)):
        raise ConfigError(f"model {getattr(target, '__qualname__', name)!r} is not a torch.nn.Module class or instance")
    return target


def build(source, spec, kwargs):
    """The model: `source` constructed from the data and `kwargs` (the user's model.* keys), or the
    instance given; one without `learn` inside the default agent (as its encoder or output head)."""
    if isinstance(source, torch.nn.Module):
        if kwargs:
            raise ConfigError(f"model.{next(iter(kwargs))}: the model was given as an instance, so it takes "
                              f"no constructor arguments; pass the class instead")
        model = source
    else:
        model = construct(source, spec, kwargs)
    if not callable(getattr(model, "learn", None)):
        from .agents import AC2Agent

        model = AC2Agent.wrap(model, spec)
    return model


def own_optimizers(model):
    """{attribute: optimizer or scheduler} that the model keeps itself (a checkpoint saves them)."""
    kinds = (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)
    return {name: value for name, value in vars(model).items() if isinstance(value, kinds)}


def optimizes_itself(model):
    """Whether the model keeps its own optimizer, so that its `learn` steps it."""
    return any(isinstance(value, torch.optim.Optimizer) for value in own_optimizers(model).values())
