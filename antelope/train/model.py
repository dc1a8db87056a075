"""The model `model=` names: found, built from the data (its constructor filled by argument name), and wrapped
by the default agent when it has no `learn`.

    model=MLP                              a bundled agent by name (antelope/agents)
    model=mypackage.models.Net             a dotted path
    model=path/to/file.py:Net              a file and a class in it
    ml(model=Net) / ml(model=Net(...))     a class or an instance, from Python
    model=torchvision.models.resnet18      a function that returns a module (its **kwargs filled where documented)
    model=timm.create_model model.model_name=resnet18

A model that keeps its own optimizer (any attribute holding a `torch.optim.Optimizer`, e.g. `self.optim`)
optimizes itself in `learn`; the trainer then steps none of its own.
"""

import inspect
import os
from math import prod

import torch

from ..errors import ConfigError
from ..imports import did_you_mean, import_target


def resolve(target):
    """The model `model=` names: a class, an instance, or a function that returns a module (a factory, such as
    `torchvision.models.resnet18` or `timm.create_model`); given as an object, a bundled model's name, a dotted path
    or path/to/file.py:Name."""
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
    name = getattr(target, "__qualname__", type(target).__name__)
    if isinstance(target, type) and not issubclass(target, torch.nn.Module):
        raise ConfigError(f"model {name!r} is not a torch.nn.Module class, instance, or a function that returns one")
    if not (isinstance(target, torch.nn.Module) or callable(target)):
        raise ConfigError(f"model {name!r} is not a torch.nn.Module class, instance, or a function that returns one")
    return target


def build(source, spec, kwargs):
    """(the model, the arguments filled from the data): `source` built from the data and `kwargs` (the user's
    model.* keys), or the instance given; one without `learn` inside the default agent (as its output head when
    it was built to the data's output size, else as its encoder)."""
    if isinstance(source, torch.nn.Module):
        if kwargs:
            raise ConfigError(
                f"model.{next(iter(kwargs))}: the model was given as an instance, so it takes "
                f"no constructor arguments; pass the class instead"
            )
        model, filled = source, {}
    else:
        model, filled = construct(source, spec, kwargs)
    if not callable(getattr(model, "learn", None)):
        from ..agents import AC2Agent

        sized = None if isinstance(source, type) else bool({"num_classes", "out_features"} & set({**filled, **kwargs}))
        model = AC2Agent.wrap(model, spec, head=sized)
    return model, filled


def own_optimizers(model):
    """{attribute: optimizer or scheduler} that the model keeps itself (a checkpoint saves them)."""
    kinds = (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)
    return {name: value for name, value in vars(model).items() if isinstance(value, kinds)}


def own_settings(model):
    """What the optimizers and schedulers the model keeps were set to, read from the live objects, in the form of
    the config's optim= and scheduler=: {'optim': {'_target_': 'torch.optim.sgd.SGD', 'lr': 0.0001, ...}}; by
    attribute when it keeps several ({'optim': {'actor_optim': {...}, 'critic_optim': {...}}}); {'scheduler': None}
    when it keeps none. A hyperparameter that differs between param groups is the list of its values, group by
    group; one that is not a plain value (a scheduler's lambda) is left out."""
    kept = own_optimizers(model)
    found = {
        "optim": {name: _optimizer_settings(v) for name, v in kept.items() if isinstance(v, torch.optim.Optimizer)},
        "scheduler": {
            name: _scheduler_settings(v) for name, v in kept.items() if not isinstance(v, torch.optim.Optimizer)
        },
    }
    return {
        group: next(iter(by_name.values())) if len(by_name) == 1 else by_name or None
        for group, by_name in found.items()
    }


def _optimizer_settings(optimizer):
    settings = {"_target_": _class_path(optimizer)}
    for key in optimizer.defaults:
        values = [_plain(group[key]) for group in optimizer.param_groups if key in group]
        if values and all(_is_plain(v) for v in values):
            settings[key] = values[0] if all(v == values[0] for v in values) else values
    return settings


def _scheduler_settings(scheduler):
    """The scheduler's constructor arguments, as it holds them (LRScheduler keeps each as an attribute)."""
    settings = {"_target_": _class_path(scheduler)}
    for name in inspect.signature(type(scheduler).__init__).parameters:
        if name in ("self", "optimizer", "last_epoch", "verbose") or not hasattr(scheduler, name):
            continue
        value = _plain(getattr(scheduler, name))
        if _is_plain(value):
            settings[name] = value
    return settings


def _class_path(value):
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _plain(value):
    """A tensor hyperparameter (a tensor lr) as its number, a tuple (betas) as a list: values a YAML record holds."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _is_plain(value):
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return value is None or isinstance(value, (bool, int, float, str))


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


# What the functions of a model library take through **kwargs, as the library documents it, filled from the data
# like a named argument: {module prefix: {keyword: (the fillable value it takes, a keyword that rules it out)}}.
# torchvision's builders refuse num_classes beside pretrained weights of another size; timm replaces the head.
DOCUMENTED_KWARGS = {
    "torchvision.models": {"num_classes": ("num_classes", "weights")},
    "timm": {"num_classes": ("num_classes", None), "in_chans": ("in_channels", None)},
}


def construct(source, spec, kwargs):
    """(`source(**arguments)`, the arguments filled): each argument of a class's constructor or a function from
    `kwargs` (the user's model.* keys), or filled from `spec` by its name; a function's **kwargs filled where its
    library documents them (DOCUMENTED_KWARGS)."""
    is_class = isinstance(source, type)
    name = getattr(source, "__qualname__", repr(source))
    where = f"{name}.__init__" if is_class else name
    parameters = list(inspect.signature(source.__init__ if is_class else source).parameters.values())[int(is_class) :]
    takes_any = any(p.kind == p.VAR_KEYWORD for p in parameters)
    names = [p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for key in kwargs:
        if key not in names and not takes_any:
            raise ConfigError(
                f"model.{key}: {where} has no argument {key!r}"
                f"{did_you_mean(key, names)}; its arguments: {', '.join(names) or 'none'}"
            )
    values, arguments, filled = fillable(spec), dict(kwargs), {}
    for parameter in parameters:
        if parameter.name in arguments or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in values:
            arguments[parameter.name] = filled[parameter.name] = values[parameter.name]
        elif parameter.default is parameter.empty:
            raise ConfigError(
                f"{where} needs argument {parameter.name!r}, which antelope cannot fill: "
                f"pass it as model.{parameter.name}=..., or use one antelope fills "
                f"({', '.join(values)})"
            )
    if takes_any and not is_class:
        for keyword, (value, unless) in _documented(source).items():
            if keyword not in arguments and value in values and arguments.get(unless) in (None, "None"):
                arguments[keyword] = filled[keyword] = values[value]
    model = _made(source, where, arguments)
    if not isinstance(model, torch.nn.Module):
        raise ConfigError(
            f"model {name!r} returned a {type(model).__name__}, not a torch.nn.Module: give a Module class, or a "
            f"function that returns a module"
        )
    return model, {k: v for k, v in filled.items() if isinstance(v, (int, float, str, bool))}  # shapes: in the spec


def _documented(function):
    """The **kwargs a model function's library documents (DOCUMENTED_KWARGS), by the function's module."""
    module = getattr(function, "__module__", "") or ""
    return next((kwargs for prefix, kwargs in DOCUMENTED_KWARGS.items() if module.startswith(prefix)), {})


def _made(source, where, arguments):
    """`source(**arguments)`; a library's failed download of pretrained weights (no internet) is one line naming
    where the library keeps them, so they can be put there by hand."""
    try:
        return source(**arguments)
    except OSError as error:  # urllib's URLError, huggingface_hub's connection errors: OSErrors all
        if not any(key in arguments for key in ("weights", "pretrained")):
            raise
        import torch.hub

        cache = (
            os.path.join(torch.hub.get_dir(), "checkpoints")
            if not where.startswith("create_model")
            else os.environ.get("HF_HUB_CACHE", os.path.join(os.environ.get("HF_HOME", "~/.cache/huggingface"), "hub"))
        )
        raise ConfigError(
            f"model {where}: cannot download its pretrained weights ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:120]}); put the weights file into {os.path.expanduser(cache)} on a machine "
            f"without internet, or leave the pretrained weights out"
        ) from None
