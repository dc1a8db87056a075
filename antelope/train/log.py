"""Log: what `learn` writes with `log.loss = loss` or `log(loss=loss, accuracy=acc)`, and where metrics go.

The trainer averages what was written every `log_per_steps` steps and hands the means, with the
evaluation's metrics, to `log.write`, which passes them to the log's sinks: the progress line, the run's
tracking (an MLflow run) and a sweep trial's pruner. The loop itself never learns where metrics end up.

Values on an accelerator stay there (no host sync) until the trainer asks for their means, once per
`log_per_steps`, in one transfer. Values on the CPU are read as numbers when written: there is no device
to wait for, and holding every step's tensor until the write would keep hundreds of small allocations
alive between the step's own, pushing the allocator onto its slower paths on every step.
"""

import collections
import math
import numbers

import torch


class Log:
    def __init__(self, sinks=(), pending=None):
        """Each of `sinks`, `sink(metrics, step, flush)`, receives every write: {name: float}, the trainer's
        step, and whether to send it on at once (evaluations) rather than batched. `pending` is what
        `pending()` returned (a checkpoint's), written again."""
        object.__setattr__(self, "_values", collections.defaultdict(list))
        object.__setattr__(self, "nonfinite", {})
        object.__setattr__(self, "_sinks", list(sinks))
        for name, values in (pending or {}).items():
            for value in values:
                setattr(self, name, value)

    def __setattr__(self, name, value):
        # The usual case, a 0-dim tensor, kept short: the trainer logs its loss every step.
        if type(value) is torch.Tensor and value.dim() == 0:
            value = value.item() if value.is_cpu else value.detach()
        else:
            value = _scalar(name, value)
        self._values[name].append(value)

    def __call__(self, **metrics):
        for name, value in metrics.items():
            setattr(self, name, value)

    def __getattr__(self, name):
        values = self._values.get(name)
        if not values:
            raise AttributeError(f"nothing logged as {name!r} since the last write")
        return values[-1]

    def write(self, metrics, step, flush=False):
        """Hand `metrics` ({name: float}) at `step` to the sinks, in order. A sink may end training by raising
        (a sweep's pruner): the sinks before it have the metrics."""
        for sink in self._sinks:
            sink(metrics, step, flush)

    def pending(self):
        """{name: [the values written since the last reduce]}: what a checkpoint keeps."""
        return {name: list(values) for name, values in self._values.items()}

    def reduce(self):
        """{name: mean of the values written since the last reduce}, as floats; then starts over.

        For a name whose mean is nan or inf, `self.nonfinite[name]` is the index of its first
        non-finite value since the last reduce."""
        self.nonfinite.clear()
        reduced = {name: _mean(values) for name, values in self._values.items()}
        on_device = {name: mean for name, mean in reduced.items() if isinstance(mean, torch.Tensor)}
        if on_device:
            means = list(on_device.values())
            if len({m.device for m in means}) > 1:
                means = [m.cpu() for m in means]
            reduced.update(zip(on_device, torch.stack(means).tolist(), strict=True))  # the one host sync
        for name, mean in reduced.items():
            if not math.isfinite(mean):
                finite = [math.isfinite(float(v)) for v in self._values[name]]
                self.nonfinite[name] = finite.index(False) if False in finite else len(finite) - 1  # else: overflowed
        self._values.clear()
        return reduced


def _scalar(name, value):
    """Any other value, checked: a number, or a one-element tensor (a number when on the CPU, else
    detached and 0-dim)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"log.{name} must be a scalar; got a tensor of shape {tuple(value.shape)}")
        return value.item() if value.is_cpu else value.detach().reshape(())
    if not isinstance(value, numbers.Real):  # Python's and numpy's numbers
        raise ValueError(f"log.{name} must be a number or a scalar tensor; got {type(value).__name__}")
    return float(value)


def _mean(values):
    """The mean of one name's values: a float when all are numbers, else a 0-dim tensor on their device."""
    tensors = [v for v in values if isinstance(v, torch.Tensor)]
    if not tensors:
        return sum(values) / len(values)
    if len(tensors) == len(values):
        return torch.stack(values).float().mean()  # one stack (it promotes dtypes)
    return torch.stack([torch.as_tensor(v, dtype=torch.float32, device=tensors[0].device) for v in values]).mean()
