"""The model `model=` names: found, built from the data (its constructor filled by argument name), and wrapped
by the default agent when it has no `learn`.

    model=MLP                              a bundled agent by name (antelope/agents)
    model=mypackage.models.Net             a dotted path
    model=path/to/file.py:Net              a file and a class in it
    ml(model=Net) / ml(model=Net(...))     a class or an instance, from Python

A model that keeps its own optimizer (any attribute holding a `torch.optim.Optimizer`, e.g. `self.optim`)
optimizes itself in `learn`; the trainer then steps none of its own.
"""

import inspect
from math import prod

import torch

from ..errors import ConfigError
from ..imports import did_you_mean, import_target


def resolve(target):
    """The model class or instance that `model=` names: an object, a bundled model's name, a dotted
    path or path/to/file.py:Class."""
    if isinstance(target, str):
        from .. import agents

        if "." not in target and ":" not in target:
            if target not in agents.__all__:
                raise ConfigError(
                    f"unknown model {target!r}{did_you_mean(target, agents.__all__)}: give one of "
                    f"{', '.join(agents.__all__)}, a dotted path or path/to/file.py:ClassName"
                )
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
            raise ConfigError(
                f"model.{next(iter(kwargs))}: the model was given as an instance, so it takes "
                f"no constructor arguments; pass the class instead"
            )
        model = source
    else:
        model = construct(source, spec, kwargs)
    if not callable(getattr(model, "learn", None)):
        from ..agents import AC2Agent

        model = AC2Agent.wrap(model, spec)
    return model


def own_optimizers(model):
    """{attribute: optimizer or scheduler} that the model keeps itself (a checkpoint saves them)."""
    kinds = (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)
    return {name: value for name, value in vars(model).items() if isinstance(value, kinds)}


def optimizes_itself(model):
    """Whether the model keeps its own optimizer, so that its `learn` steps it."""
    return any(isinstance(value, torch.optim.Optimizer) for value in own_optimizers(model).values())


def fillable(spec):
    """Constructor arguments antelope fills by name."""
    out_features = prod(spec.action.shape)
    values = {
        "in_features": prod(spec.obs.shape),
        "out_features": out_features,
        "in_channels": spec.obs.shape[0],
        "out_channels": out_features,
        "in_shape": spec.obs.shape,
        "input_shape": spec.obs.shape,
        "out_shape": spec.action.shape,
        "output_shape": spec.action.shape,
        "spec": spec,
        "obs_spec": spec.obs,
        "action_spec": spec.action,
    }
    if spec.num_classes is not None:
        values["num_classes"] = spec.num_classes
    return values


def construct(cls, spec, kwargs):
    """`cls(**arguments)`: each argument from `kwargs` (the user's model.* keys) or filled from `spec`."""
    name = cls.__qualname__
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters)
    names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for key in kwargs:
        if key not in names and not takes_any:
            raise ConfigError(
                f"model.{key}: {name}.__init__ has no argument {key!r}"
                f"{did_you_mean(key, names)}; its arguments: {', '.join(names) or 'none'}"
            )
    values, arguments = fillable(spec), dict(kwargs)
    for parameter in parameters:
        if parameter.name in arguments or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in values:
            arguments[parameter.name] = values[parameter.name]
        elif parameter.default is parameter.empty:
            raise ConfigError(
                f"{name}.__init__ needs argument {parameter.name!r}, which antelope cannot fill: "
                f"pass it as model.{parameter.name}=..., or use one antelope fills "
                f"({', '.join(values)})"
            )
    return cls(**arguments)
