"""torchvision's transforms (v2) by name: `transform=` for training, `eval_transform=` for evaluation.

    ml transform=[RandomHorizontalFlip,{RandomResizedCrop:{size:32,scale:[0.5,1]}}] eval_transform=[...]
    ml(transform=[v2.RandomHorizontalFlip(), v2.ColorJitter(0.4, 0.4)])        # objects, from Python

Each item is a `torchvision.transforms.v2` class by name (or a dotted path to one), `{Name: {arg: value}}`
with arguments (several names in one mapping run in its order), or, from Python, a transform object (any
callable on a tensor). They see each image as
float32 in [0, 1], (C, H, W), after `image_size=`'s resize, and run in order.

Where they run: on data held in memory, on the run's device, batch by batch: a transform that draws nothing
at random (Normalize, Resize, CenterCrop, ...) on the whole batch at once, a random one sample by sample
(torchvision's transforms draw one set of parameters per call, which a whole batch would share). On
streamed data, in the DataLoader worker processes, sample by sample. Either way a transform's randomness
comes from a seed made of the run's seed and the sample's (or batch's) place in the run, so that a
resumed run draws what an uninterrupted one would.
"""

import torch

from ..errors import ConfigError
from ..imports import did_you_mean, import_target

_GOLDEN = 0x9E3779B97F4A7C15  # spreads consecutive indices over the seed space (Fibonacci hashing)
_MASK = (1 << 63) - 1


def build(items):
    """The transform the config's `items` name (one callable), or None for none."""
    if items is None or isinstance(items, (list, tuple)) and not items:
        return None
    from torchvision.transforms import v2

    if not isinstance(items, (list, tuple)) and not isinstance(items, str) and callable(items):
        return items  # one transform object (a v2.Compose, say), from Python
    steps = []
    for item in items if isinstance(items, (list, tuple)) else [items]:
        if hasattr(item, "items") and len(item) > 1:  # {A: {...}, B: {...}}: several steps, in order
            steps += [_step({name: arguments}) for name, arguments in item.items()]
        else:
            steps.append(_step(item))
    return steps[0] if len(steps) == 1 else v2.Compose(steps)


def _step(item):
    if isinstance(item, type):  # a class, from Python: with its default arguments
        return item()
    if callable(item) and not isinstance(item, (str, dict)):
        return item
    if isinstance(item, str):
        name, arguments = item, {}
    elif hasattr(item, "items") and len(item) == 1:
        name, arguments = next(iter(item.items()))
        arguments = dict(arguments) if hasattr(arguments, "items") else arguments
    else:
        raise ConfigError(
            f"transform item {item!r} is not valid: give a name (RandomHorizontalFlip) or {{Name: {{argument: value}}}}"
        )
    cls = _class(name)
    try:
        if isinstance(arguments, dict):
            return cls(**{k: _plain(v) for k, v in arguments.items()})
        return cls(*_plain(arguments)) if isinstance(arguments, list) else cls(_plain(arguments))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"transform {name} with {arguments}: {str(error).strip().splitlines()[0]}") from None


def _class(name):
    from torchvision.transforms import v2

    if "(" in name:
        raise ConfigError(
            f"transform {name!r} was a transform object given from Python (the run records its "
            f"repr); give the object again, or write it as {{Name: {{argument: value}}}}"
        )
    if "." in name or ":" in name:
        return import_target(name)
    known = [n for n, v in vars(v2).items() if isinstance(v, type) and issubclass(v, torch.nn.Module)]
    if name not in known:
        raise ConfigError(
            f"unknown transform {name!r}{did_you_mean(name, known)}: give a torchvision.transforms.v2 "
            f"class name (RandomResizedCrop, RandomHorizontalFlip, ColorJitter, Normalize, ...) or a "
            f"dotted path"
        )
    return getattr(v2, name)


def _plain(value):
    """OmegaConf's containers as Python's (torchvision checks for list/tuple/dict)."""
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or type(value).__name__ == "ListConfig":
        return [_plain(v) for v in value]
    return value


def seed_for(*keys):
    """A 63-bit seed from integers (the run's seed, an epoch, a position): each combination its own stream."""
    import numpy

    entropy = [len(keys), *(k & _MASK for k in keys)]  # the count too: SeedSequence ignores trailing zeros
    return int(numpy.random.SeedSequence(entropy).generate_state(2, numpy.uint64)[0]) & _MASK


def sample_seed(base, index):
    """The seed of sample `index` in the epoch whose seed is `base` (cheap: the main process makes one per sample)."""
    return (base ^ (index * _GOLDEN)) & _MASK


class Batched:
    """`transform` applied to a batch (B, C, H, W) on its device: deterministic steps on the whole batch at
    once, random ones per sample; `batched(obs, seed)` draws its randomness from `seed` alone."""

    def __init__(self, transform):
        self.steps = _flatten(transform)

    def __call__(self, obs, seed):
        devices = [obs.device] if obs.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.default_generator.manual_seed(seed)  # not torch.manual_seed: see antelope.samples.Samples
            if obs.device.type == "cuda":
                torch.cuda.manual_seed(seed)
            for step in self.steps:
                obs = step(obs) if _deterministic(step) else torch.stack([step(x) for x in obs])
        return obs


def _flatten(transform):
    from torchvision.transforms import v2

    if isinstance(transform, v2.Compose):
        return [s for t in transform.transforms for s in _flatten(t)]
    return [transform]


def _deterministic(step):
    """Whether `step` draws nothing at random, so that one call on a whole batch is the same as per sample."""
    from torchvision.transforms import v2

    return isinstance(
        step,
        (
            v2.Normalize,
            v2.Resize,
            v2.CenterCrop,
            v2.Pad,
            v2.ToDtype,
            v2.Grayscale,
            v2.RGB,
            v2.Identity,
            v2.ConvertImageDtype,
            v2.ToPureTensor,
        ),
    )
