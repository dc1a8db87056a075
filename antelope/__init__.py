"""Antelope: train any PyTorch model with `ml()`; every run is an MLflow run.

    from antelope import ml
    ml(model=Model, dataset='CIFAR10', lr=1e-2, lr_decay_epochs=1000)

    from antelope import sweep
    sweep(model=Model, dataset='CIFAR10', space={'lr': 'tag(log, interval(1e-5, 1e-1))'}, trials=50)

    from antelope import runs, plot, load
    runs(experiment='CIFAR10')   # a pandas DataFrame: params, final metrics, sweep and trial info
    plot(experiment='CIFAR10')   # PNG learning curves and sweep plots in ./plots
    model = load(run_id)         # a run's trained nn.Module (also: mlflow.pytorch.load_model('runs:/<id>/model'))

The package's rooms are its folders (antelope/README.md draws them).
"""

from .errors import ConfigError
from .results import plot, runs
from .run.ml import Result, ml
from .sweeps.sweep import sweep
from .tracking import load_model as load

__all__ = ["ml", "sweep", "runs", "plot", "load", "Result", "ConfigError"]
