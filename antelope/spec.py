"""What the data looks like (`Spec`), and filling a model's constructor from it by argument name.

`spec.obs`: shape, mean, stddev (per channel for images, per feature for vectors, CPU tensors), low,
high (floats), all computed from the training split. `spec.action` is what the model outputs: for
classification one logit per class (shape (num_classes,), discrete, low 0, high num_classes-1); for
regression the target's shape and range.
"""
import inspect
import math
from dataclasses import dataclass
from math import prod
from typing import Optional, Tuple

import torch

from .errors import ConfigError
from .imports import did_you_mean


@dataclass(frozen=True)
class Datum:
    shape: Tuple[int, ...]
    mean: Optional[torch.Tensor] = None
    stddev: Optional[torch.Tensor] = None
    low: Optional[float] = None
    high: Optional[float] = None
    discrete: bool = False


@dataclass(frozen=True)
class Spec:
    obs: Datum
    action: Datum
    num_classes: Optional[int]  # None for regression
    task: str = "supervised"  # "supervised" (classification or regression), "rl" or "generate"

    @property
    def classification(self):
        return self.num_classes is not None

    @property
    def task_name(self):
        """classification, regression, rl or generate: what the run is tagged with, and what names its
        main metric (METRICS)."""
        if self.task == "supervised":
            return "classification" if self.classification else "regression"
        return self.task


# The metric each task's evaluation reports, and which way is better: a sweep's default objective.
METRICS = {"classification": "eval/accuracy", "regression": "eval/mse", "rl": "eval/return",
           "generate": "eval/moment_error"}
DIRECTIONS = {"eval/accuracy": "maximize", "eval/mse": "minimize", "eval/return": "maximize",
              "eval/moment_error": "minimize", "cost/train_seconds": "minimize", "cost/parameters": "minimize"}
# What every run records of its cost (at step 0), for a sweep to weigh against its main metric: the model's
# parameter count, and the seconds spent training (summed over the run's resumes).
PARAMETERS, TRAIN_SECONDS = "cost/parameters", "cost/train_seconds"


def spec_of(obs, label, num_classes):
    """The Spec of a training split held as tensors: obs (N, *shape) (uint8 pixels as the float32 in [0, 1]
    the model gets), label (N,) or (N, k)."""
    channel_first = obs.dim() >= 3  # (N, C, ...) images: statistics per channel
    mean, stddev, low, high = _moments(obs, [d for d in range(obs.dim()) if d != 1] if channel_first else [0])
    observation = Datum(shape=tuple(obs.shape[1:]), mean=mean, stddev=stddev, low=low, high=high)
    if num_classes is not None:
        action = Datum(shape=(num_classes,), low=0.0, high=float(num_classes - 1), discrete=True)
    else:
        action = Datum(shape=tuple(label.shape[1:]) or (1,), low=label.min().item(), high=label.max().item())
    return Spec(obs=observation, action=action, num_classes=num_classes)


def _moments(obs, reduce, chunk=4096):
    """(mean, stddev, low, high) over the dims `reduce`; uint8 pixels as float32 in [0, 1], converted a chunk
    at a time (never the whole split as float32)."""
    if obs.dtype != torch.uint8:
        return obs.mean(reduce), obs.std(reduce), obs.min().item(), obs.max().item()
    kept = [d for d in range(obs.dim()) if d not in reduce]
    total = squares = 0
    for start in range(0, len(obs), chunk):
        part = obs[start:start + chunk].double() / 255
        total, squares = total + part.sum(reduce), squares + (part ** 2).sum(reduce)
    count = obs.numel() // math.prod(obs.shape[d] for d in kept)
    mean = total / count
    variance = (squares - count * mean ** 2) / max(count - 1, 1)
    return mean.float(), variance.clamp(min=0).sqrt().float(), obs.min().item() / 255, obs.max().item() / 255


def fillable(spec):
    """Constructor arguments antelope fills by name."""
    out_features = prod(spec.action.shape)
    values = {
        "in_features": prod(spec.obs.shape), "out_features": out_features,
        "in_channels": spec.obs.shape[0], "out_channels": out_features,
        "in_shape": spec.obs.shape, "input_shape": spec.obs.shape,
        "out_shape": spec.action.shape, "output_shape": spec.action.shape,
        "spec": spec, "obs_spec": spec.obs, "action_spec": spec.action,
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
            raise ConfigError(f"model.{key}: {name}.__init__ has no argument {key!r}"
                              f"{did_you_mean(key, names)}; its arguments: {', '.join(names) or 'none'}")
    values, arguments = fillable(spec), dict(kwargs)
    for parameter in parameters:
        if parameter.name in arguments or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.name in values:
            arguments[parameter.name] = values[parameter.name]
        elif parameter.default is parameter.empty:
            raise ConfigError(f"{name}.__init__ needs argument {parameter.name!r}, which antelope cannot fill: "
                              f"pass it as model.{parameter.name}=..., or use one antelope fills "
                              f"({', '.join(values)})")
    return cls(**arguments)
