"""What the data looks like (`Spec`): what a model's constructor is filled from (antelope.train.model).

`spec.obs`: shape, mean, stddev (per channel for images, per feature for vectors, CPU tensors), low,
high (floats), all computed from the training split. `spec.action` is what the model outputs: for
classification one logit per class (shape (num_classes,), discrete, low 0, high num_classes-1); for
regression the target's shape and range.
"""

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import torch


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
        main metric (antelope.metrics.METRICS)."""
        if self.task == "supervised":
            return "classification" if self.classification else "regression"
        return self.task


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


def generative(spec):
    """A dataset's Spec turned generative (generate=true): the action is a sample shaped like an observation."""
    action = Datum(
        shape=spec.obs.shape, mean=spec.obs.mean, stddev=spec.obs.stddev, low=spec.obs.low, high=spec.obs.high
    )
    return Spec(obs=spec.obs, action=action, num_classes=spec.num_classes, task="generate")


def _moments(obs, reduce, chunk=4096):
    """(mean, stddev, low, high) over the dims `reduce`; uint8 pixels as float32 in [0, 1], converted a chunk
    at a time (never the whole split as float32)."""
    if obs.dtype != torch.uint8:
        return obs.mean(reduce), obs.std(reduce), obs.min().item(), obs.max().item()
    kept = [d for d in range(obs.dim()) if d not in reduce]
    total = squares = 0
    for start in range(0, len(obs), chunk):
        part = obs[start : start + chunk].double() / 255
        total, squares = total + part.sum(reduce), squares + (part**2).sum(reduce)
    count = obs.numel() // math.prod(obs.shape[d] for d in kept)
    mean = total / count
    variance = (squares - count * mean**2) / max(count - 1, 1)
    return mean.float(), variance.clamp(min=0).sqrt().float(), obs.min().item() / 255, obs.max().item() / 255
