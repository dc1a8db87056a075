"""Log: what `learn` writes with `log.loss = loss` or `log(loss=loss, accuracy=acc)`.

Values stay as they are (tensors on the device, no host sync) until the trainer asks for their means,
once per `log_per_steps`, in one transfer.
"""
import collections
import math

import torch


class Log:
    def __init__(self):
        object.__setattr__(self, "_values", collections.defaultdict(list))
        object.__setattr__(self, "nonfinite", {})

    def __setattr__(self, name, value):
        # The usual case, a 0-dim tensor, kept short: the trainer logs its loss every step.
        value = value.detach() if type(value) is torch.Tensor and value.dim() == 0 else _scalar(name, value)
        self._values[name].append(value)

    def __call__(self, **metrics):
        for name, value in metrics.items():
            setattr(self, name, value)

    def __getattr__(self, name):
        values = self._values.get(name)
        if not values:
            raise AttributeError(f"nothing logged as {name!r} since the last write")
        return values[-1]

    def pending(self):
        """{name: [the values written since the last reduce]}: what a checkpoint keeps."""
        return {name: list(values) for name, values in self._values.items()}

    def reduce(self):
        """{name: mean of the values written since the last reduce}, as floats; then starts over.

        For a name whose mean is nan or inf, `self.nonfinite[name]` is the index of its first
        non-finite value since the last reduce."""
        self.nonfinite.clear()
        if not self._values:
            return {}
        names = list(self._values)
        means = [_mean(values) for values in self._values.values()]
        if len({m.device for m in means}) > 1:
            means = [m.cpu() for m in means]
        reduced = dict(zip(names, torch.stack(means).tolist()))  # the one host sync
        for name, mean in reduced.items():
            if not math.isfinite(mean):
                finite = [math.isfinite(float(v)) for v in self._values[name]]
                self.nonfinite[name] = finite.index(False)
        self._values.clear()
        return reduced


def _scalar(name, value):
    """Any other value, checked: a one-element tensor (detached, reshaped to 0-dim) or a number."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"log.{name} must be a scalar; got a tensor of shape {tuple(value.shape)}")
        return value.detach().reshape(())
    if not isinstance(value, (int, float)):
        raise ValueError(f"log.{name} must be a number or a scalar tensor; got {type(value).__name__}")
    return value


def _mean(values):
    try:
        return torch.stack(values).float().mean()  # the usual case, tensors: one stack (it promotes dtypes)
    except TypeError:  # numbers among them
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        device = tensors[0].device if tensors else None
        return torch.stack([torch.as_tensor(v, dtype=torch.float32, device=device) for v in values]).mean()
