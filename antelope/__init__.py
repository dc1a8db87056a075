"""Antelope: train any PyTorch model with `ml()`; every run is an MLflow run.

    from antelope import ml
    ml(model=Model, dataset='CIFAR10', lr=1e-2, lr_decay_epochs=1000)

    from antelope import sweep
    sweep(model=Model, dataset='CIFAR10', space={'lr': 'tag(log, interval(1e-5, 1e-1))'}, trials=50)

    from antelope import runs, plot, load
    runs(experiment='CIFAR10')   # a pandas DataFrame: params, final metrics, sweep and trial info
    plot(experiment='CIFAR10')   # PNG learning curves and sweep plots in ./plots
    model = load(run_id)         # the model a run kept (its best evaluation's), its own class; runs:/<id>/model

The package's rooms are its folders (antelope/README.md draws them).
"""

import importlib
from typing import TYPE_CHECKING

from .errors import ConfigError

if TYPE_CHECKING:  # what the names below are, for type checkers and editors
    from .results import plot, runs
    from .run.ml import Result, ml
    from .sweeps.sweep import sweep
    from .tracking import load_model as load

# Each name's module is imported when the name is first used (PEP 562): `ml --help` and `ml runs` start without
# torch, and `from antelope import ml` imports what a run needs and no more.
_EXPORTS = {
    "ml": ("antelope.run.ml", "ml"),
    "Result": ("antelope.run.ml", "Result"),
    "sweep": ("antelope.sweeps.sweep", "sweep"),
    "runs": ("antelope.results", "runs"),
    "plot": ("antelope.results", "plot"),
    "load": ("antelope.tracking", "load_model"),
}

__all__ = ["ml", "sweep", "runs", "plot", "load", "Result", "ConfigError"]


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'antelope' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # asked once
    return value


def __dir__():
    return sorted([*globals(), *_EXPORTS])
