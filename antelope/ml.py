"""ml(): compose the config, build the data, model and optimizer, open the MLflow run, train.

    from antelope import ml
    ml(model=Model, dataset='CIFAR10', lr=1e-2, lr_decay_epochs=1000)
"""
import os
import sys
import warnings
from dataclasses import dataclass, field

import torch
from omegaconf import OmegaConf

from . import config, datasets, optim, tracking
from .errors import ConfigError
from .imports import did_you_mean, import_target, qualified_name
from .log import Log
from .replay import Replay
from .spec import construct, spec_of
from .trainer import train


@dataclass
class Result:
    run_id: str
    experiment_id: str
    model: torch.nn.Module
    metrics: dict  # the final evaluation, e.g. {'eval/accuracy': 0.97}
    config: dict = field(repr=False)  # the resolved config the run recorded


def ml(*overrides, **kwargs):
    """Train a model on a dataset as one MLflow run; returns a `Result` (run_id, model, metrics).

    Keys are those of `ml --help`, given as keyword arguments (`lr=1e-2`, `model=Model`) or as override
    strings (`'optim=SGD'`, `'optim.lr=1e-2'`), exactly as on the console.
    """
    overrides, objects = config.overrides_from_python(overrides, kwargs)
    cfg, explicit = config.compose(overrides)
    return run(cfg, overrides, objects, explicit)


def run(cfg, overrides, objects, explicit=(), parent_run_id=None, run_name=None, tags=None, on_evaluate=None):
    """One run of a composed config: the shared path of `ml()`, the `ml` console and sweep trials.

    `parent_run_id` nests the MLflow run under another (a sweep's); `tags` are added to the run's;
    `on_evaluate(step, metrics)` is called after each evaluation and may raise `errors.Stop` to end
    the run early (KILLED)."""
    device = _device(cfg.device)
    model_source = _model_source(objects.get("model", cfg.model._target_))
    model_kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k != "_target_"}
    data = datasets.load(cfg.dataset, cfg.test_dataset, cfg.dataset_root, cfg.label_column, objects)
    spec = spec_of(data.train.obs, data.train.label, data.num_classes)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        model = _build_model(model_source, spec, model_kwargs).to(device)
        replay = Replay(data.train.obs, data.train.label, cfg.batch_size, device, cfg.seed)
        if cfg.epochs is not None:
            cfg.train_steps = cfg.epochs * len(replay)
        optimizer, scheduler = _build_optimizer(model, cfg, explicit)
        test = datasets.Split(data.test.obs.to(device), data.test.label.to(device))
        resolved = OmegaConf.to_container(cfg, resolve=True)
        tags = {"antelope.overrides": " ".join(overrides), "antelope.model": qualified_name(model),
                "antelope.dataset": cfg.dataset, "antelope.device": str(device),
                "antelope.task": "classification" if data.num_classes else "regression", **(tags or {})}
        experiment = cfg.experiment or _dataset_name(cfg.dataset)
        with tracking.Run(experiment, resolved, tags, OmegaConf.to_yaml(resolved), parent_run_id, run_name) as run:
            metrics = train(model, replay, test, data.num_classes, run, optimizer, scheduler, Log(), cfg, on_evaluate)
            run.log_state_dict(model.state_dict())
    summary = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    print(f"ml: run {run.run_id} finished in experiment {experiment!r}: {summary}\n"
          f"    see it with: mlflow ui --backend-store-uri {tracking.tracking_uri()}", file=sys.stderr)
    return Result(run.run_id, run.experiment_id, model, metrics, resolved)


def _device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but no CUDA device is available; use device=auto or device=cpu")
    return torch.device(name)


def _model_source(target):
    """The model class or instance that `model=` names: an object, a bundled model's name, a dotted
    path or path/to/file.py:Class."""
    if isinstance(target, str):
        from . import agents

        if "." not in target and ":" not in target:
            if target not in agents.__all__:
                raise ConfigError(f"unknown model {target!r}{did_you_mean(target, agents.__all__)}: give one of "
                                  f"{', '.join(agents.__all__)}, a dotted path or path/to/file.py:ClassName")
            target = getattr(agents, target)
        else:
            target = import_target(target)
    name = target.__name__ if isinstance(target, type) else type(target).__name__
    if not (isinstance(target, torch.nn.Module) or isinstance(target, type) and issubclass(target, torch.nn.Module)):
        raise ConfigError(f"model {name} is not a torch.nn.Module (class or instance)")
    if not callable(getattr(target, "learn", None)):
        raise ConfigError(f"model {name} has no learn(replay) or learn(replay, log) method; add one that "
                          f"draws a batch with next(replay) and returns its loss")
    return target


def _build_model(source, spec, kwargs):
    if isinstance(source, torch.nn.Module):
        if kwargs:
            raise ConfigError(f"model.{next(iter(kwargs))}: the model was given as an instance, so it takes "
                              f"no constructor arguments; pass the class instead")
        return source
    return construct(source, spec, kwargs)


def _build_optimizer(model, cfg, explicit):
    """The trainer's optimizer and scheduler, or (None, None) for a model that keeps its own optimizer
    as an attribute (e.g. `self.optim`) and so optimizes itself in `learn`."""
    if any(isinstance(value, torch.optim.Optimizer) for value in vars(model).values()):
        given = sorted(k for k in explicit if k.split(".")[0] in ("optim", "scheduler", "lr", "lr_decay_epochs"))
        if given:
            warnings.warn(f"{', '.join(given)} not used: {type(model).__name__} has its own optimizer "
                          f"and optimizes itself in learn", stacklevel=3)
        return None, None
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ConfigError(f"model {type(model).__name__} has no trainable parameters for optim= to optimize")
    optimizer = optim.build_optimizer(cfg.optim, parameters)
    return optimizer, optim.build_scheduler(cfg.scheduler, optimizer)


def _dataset_name(dataset):
    if os.path.exists(dataset):
        return os.path.splitext(os.path.basename(os.path.normpath(dataset)))[0]
    return dataset.rsplit(".", 1)[-1]
