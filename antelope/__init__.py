"""Antelope: train any PyTorch model with `ml()`; every run is an MLflow run.

    from antelope import ml
    ml(model=Model, dataset='CIFAR10', lr=1e-2, lr_decay_epochs=1000)
"""
from .errors import ConfigError
from .ml import Result, ml

__all__ = ["ml", "Result", "ConfigError"]
