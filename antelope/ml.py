"""ml(): compose the config, build the data, model and optimizer, open the MLflow run, train.

    from antelope import ml
    ml(model=Model, dataset='CIFAR10', lr=1e-2, lr_decay_epochs=1000)
"""
import functools
import os
import sys
import tempfile
import warnings
from dataclasses import dataclass, field

import torch

from . import augment, checkpoint, config, datasets, distributed, environment, generative, optim, tracking, trainer
from .errors import ConfigError
from .imports import did_you_mean, import_target, qualified_name
from .log import Log
from .replay import Replay, ReplayBuffer
from .spec import construct, spec_of


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
    the run early (KILLED). With `resume=<run_id>` (or `load=true`) the run continues from its latest
    checkpoint under its recorded config."""
    resumed = _run_to_resume(cfg, explicit)
    if resumed is not None:
        cfg = resumed.config
    device, group = distributed.join(_device(cfg.device))  # group: None unless launched by torchrun
    finished = False
    try:
        result = _run(cfg, overrides, objects, explicit, resumed, device, group, parent_run_id, run_name, tags,
                      on_evaluate)
        finished = True
        return result
    finally:
        distributed.leave(group, together=finished)


def _run(cfg, overrides, objects, explicit, resumed, device, group, parent_run_id, run_name, tags, on_evaluate):
    from omegaconf import OmegaConf  # imported when used, as Hydra, MLflow and Optuna: `import antelope` stays light

    model_source = _model_source(objects.get("model", cfg.model._target_))
    model_kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k != "_target_"}
    data, env, spec = _task(cfg, objects)
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(cfg.seed)
        model = _build_model(model_source, spec, model_kwargs).to(device)
        replay, test = _replay(cfg, data, env, device, group)
        if cfg.channels_last and test is not None and test.obs.dim() == 4:
            model, test.obs = model.to(memory_format=torch.channels_last), test.obs.to(memory_format=torch.channels_last)
        if cfg.epochs is not None:
            cfg.train_steps = cfg.epochs * len(replay)
        update = _build_update(model, cfg, explicit, device, group)
        if cfg.compile:
            model.compile()
        log, start = Log(), (0, {})
        if resumed is not None:
            saved = checkpoint.load(resumed.checkpoint, device)
            saved["replay"] = _replay_state(saved["replay"], group)
            start = checkpoint.restore(saved, model, update, replay, log)
            if env is not None:
                env.restart(start[0])
        resolved = OmegaConf.to_container(cfg, resolve=True)  # final: train_steps is set from epochs above
        if not cfg.tracking or group is not None and not group.leader:
            run = tracking.Untracked()  # with torchrun, rank 0 alone records the run
        elif resumed is not None:
            run = tracking.Run.reopen(resumed.run_id)
        else:
            tags = {"antelope.overrides": " ".join(overrides), "antelope.model": qualified_name(model),
                    "antelope.dataset": cfg.env or cfg.dataset, "antelope.device": str(device),
                    "antelope.task": _task_name(spec), "antelope.processes": str(group.world if group else 1),
                    **(tags or {})}
            experiment = cfg.experiment or _experiment_name(cfg)
            run_name = run_name or _run_name(model, overrides)
            run = tracking.Run.start(experiment, resolved, tags, tracking.to_yaml(resolved), parent_run_id, run_name)
        artifacts = tracking.local_folder(run.artifact_uri())
        if run.run_id is not None:
            print(f"ml: run {run.run_id} {'resumed at step ' + str(start[0]) if resumed else 'started'}",
                  file=sys.stderr)
        with run:
            def save(step, metrics):
                replays = distributed.gather(group, replay.state_dict()) if group and cfg.tracking else None
                if run.run_id is not None:  # checkpoints live in the run's artifacts
                    state = checkpoint.state(step, model, update, replay, log, metrics, run.run_id)
                    if replays is not None:
                        state["replay"] = replays  # every process's: each draws from its own shard
                    _save_checkpoint(run, artifacts, state, cfg.keep_checkpoints)

            if env is not None:
                evaluate = functools.partial(env.evaluate, model, cfg.evaluate_episodes)
            elif spec.task == "generate":
                evaluate = generative.Evaluation(model, test, run, generative.evaluation_steps(cfg, start[0]))
            else:
                evaluate = functools.partial(trainer.evaluate, model, test, data.num_classes)
            collect = functools.partial(env.collect, model, replay) if env is not None else None
            metrics = trainer.train(model, replay, evaluate, run, update, log, cfg, start, save, collect, on_evaluate)
            if group is not None:
                distributed.check_in_sync(group, model)
            run.log_state_dict(model.state_dict())
    if run.run_id is not None:
        summary = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"ml: run {run.run_id} finished: {summary}\n"
              f"    see it with: mlflow ui --backend-store-uri {tracking.tracking_uri()}", file=sys.stderr)
    return Result(run.run_id, run.experiment_id, model, metrics, resolved)


def _run_name(model, overrides, limit=120):
    """'MLP optim=SGD optim.lr=0.01': the model and what was changed, for the MLflow UI's run lists."""
    changed = [o for o in overrides if not o.startswith(("model._target_=", "++model."))]
    name = tracking.redact(" ".join([type(model).__name__] + changed))
    return name if len(name) <= limit else name[:limit - 3] + "..."


def _replay(cfg, data, env, device, group):
    """(replay, test split on the device): an RL buffer that fills as the model acts, or the training
    split in memory (this process's shard of it under torchrun)."""
    if env is not None:
        if group is not None:
            raise ConfigError("env= with several processes (torchrun) is not supported; run one process per env")
        return ReplayBuffer(cfg.replay_capacity, cfg.batch_size, device, cfg.seed), None
    obs, label, batch_size = data.train.obs, data.train.label, cfg.batch_size
    if cfg.augment and obs.dim() != 4:
        raise ConfigError(f"augment={list(cfg.augment)} needs images (N, C, H, W); dataset={cfg.dataset} has "
                          f"obs of shape {tuple(obs.shape)}")
    if group is not None:
        obs, label, batch_size = distributed.shard(group, obs, label, batch_size)
    if cfg.channels_last and obs.dim() == 4:
        obs = obs.contiguous(memory_format=torch.channels_last)  # the replay's batches keep the format
    test = datasets.Split(data.test.obs.to(device), data.test.label.to(device))
    return Replay(obs, label, batch_size, device, cfg.seed, augment.compose(cfg.augment)), test


def _task(cfg, objects):
    """(data, env, spec): a dataset (classification, regression, or generate=true) or, with env=, an environment."""
    if cfg.env is not None:
        if cfg.epochs is not None or cfg.generate:
            raise ConfigError(f"env={cfg.env}: {'epochs' if cfg.epochs is not None else 'generate'}= does not "
                              f"apply to reinforcement learning; give train_steps= (env steps)")
        env = environment.Environment(cfg.env, cfg.seed, cfg.discrete, cfg.action_bins, cfg.nstep, cfg.discount,
                                      cfg.random_steps)
        return None, env, env.spec
    if cfg.discrete is not None:
        raise ConfigError(f"discrete={cfg.discrete} converts an environment's action space; it needs env=")
    data = datasets.load(cfg.dataset, cfg.test_dataset, cfg.dataset_root, cfg.label_column, objects)
    spec = spec_of(data.train.obs, data.train.label, data.num_classes)
    return data, None, generative.spec_of(spec) if cfg.generate else spec


def _task_name(spec):
    if spec.task == "supervised":
        return "classification" if spec.num_classes else "regression"
    return spec.task


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
        raise ConfigError(f"model {getattr(target, '__qualname__', name)!r} is not a torch.nn.Module class or instance")
    return target


def _build_model(source, spec, kwargs):
    """The model; one without `learn` inside the default agent (as its encoder or output head)."""
    if isinstance(source, torch.nn.Module):
        if kwargs:
            raise ConfigError(f"model.{next(iter(kwargs))}: the model was given as an instance, so it takes "
                              f"no constructor arguments; pass the class instead")
        model = source
    else:
        model = construct(source, spec, kwargs)
    if not callable(getattr(model, "learn", None)):
        from .agents import AC2Agent

        model = AC2Agent.wrap(model, spec)
    return model


def _build_update(model, cfg, explicit, device, group=None):
    """The trainer's optimizer step, or None for a model that keeps its own optimizer as an attribute
    (e.g. `self.optim`) and so optimizes itself in `learn`."""
    if group is not None:
        distributed.broadcast(group, model)
    if any(isinstance(value, torch.optim.Optimizer) for value in vars(model).values()):
        if group is not None:
            raise ConfigError(f"{type(model).__name__} steps its own optimizer, so its gradients cannot be "
                              f"averaged across processes; let learn return its loss to train with torchrun")
        given = sorted(k for k in explicit if k.split(".")[0] in ("optim", "scheduler", "lr", "lr_decay_epochs"))
        if given:
            warnings.warn(f"{', '.join(given)} not used: {type(model).__name__} has its own optimizer "
                          f"and optimizes itself in learn", stacklevel=3)
        return None
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ConfigError(f"model {type(model).__name__} has no trainable parameters for optim= to optimize")
    optimizer = optim.build_optimizer(cfg.optim, parameters)
    return optim.Update(optimizer, optim.build_scheduler(cfg.scheduler, optimizer), cfg, device, group)


@dataclass
class _Resumed:
    run_id: str
    config: object  # the run's recorded config
    checkpoint: str  # a local path


def _run_to_resume(cfg, explicit):
    """The run `resume=<id>` / `load=true` names, its recorded config and its latest checkpoint."""
    from omegaconf import OmegaConf

    if cfg.resume is None and not cfg.load:
        return None
    allowed = {"resume", "load", "device", "model._target_", "dataset", "experiment"}
    extra = sorted(set(explicit) - allowed)
    if extra:
        raise ConfigError(f"resume continues a run under its recorded config; drop {', '.join(extra)} "
                          f"(only device= may change)")
    mlflow_client = tracking.client()
    run_id = cfg.resume or _latest_run_id(mlflow_client, cfg)
    try:
        previous = mlflow_client.get_run(run_id)
    except Exception:
        raise ConfigError(f"resume={run_id!r}: no such MLflow run in {tracking.tracking_uri()}") from None
    if previous.info.status == "RUNNING":
        tracking.close_stale_runs(mlflow_client, previous.info.experiment_id)
        if mlflow_client.get_run(run_id).info.status == "RUNNING":
            raise ConfigError(f"run {run_id} is RUNNING in a live process "
                              f"(pid {previous.data.tags.get('antelope.pid')}); stop it before resuming")
    recorded = OmegaConf.load(mlflow_client.download_artifacts(run_id, "config.yaml", tempfile.mkdtemp()))
    stored = OmegaConf.merge(OmegaConf.structured(config.Config), recorded)
    stored.device, stored.resume, stored.load = cfg.device, None, False
    latest = _latest_checkpoint(mlflow_client, run_id)
    if latest is None:
        raise ConfigError(f"run {run_id} has no checkpoint to resume from")
    return _Resumed(run_id, stored, latest)


def _latest_run_id(mlflow_client, cfg):
    experiment = cfg.experiment or _experiment_name(cfg)
    found = mlflow_client.get_experiment_by_name(experiment)
    runs = mlflow_client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"],
                                     max_results=1) if found else []
    if not runs:
        raise ConfigError(f"load=true: experiment {experiment!r} has no run to continue")
    return runs[0].info.run_id


def _latest_checkpoint(mlflow_client, run_id):
    artifact_uri = mlflow_client.get_run(run_id).info.artifact_uri
    folder = tracking.local_folder(artifact_uri)
    if folder is not None:
        return checkpoint.latest(os.path.join(folder, checkpoint.FOLDER))
    names = sorted(a.path for a in mlflow_client.list_artifacts(run_id, checkpoint.FOLDER) if a.path.endswith(".pt"))
    return mlflow_client.download_artifacts(run_id, names[-1], tempfile.mkdtemp()) if names else None


def _replay_state(saved, group):
    """This process's replay state in a checkpoint; one written under torchrun holds every process's."""
    written, world = len(saved) if isinstance(saved, list) else 1, group.world if group is not None else 1
    if written != world:
        raise ConfigError(f"the checkpoint was written by {written} process(es) and this run has {world}; resume "
                          f"with the same number" + (f" (torchrun --nproc-per-node={written} ...)" if written > 1 else ""))
    return saved[group.rank] if group is not None else saved


def _save_checkpoint(run, artifacts, state, keep):
    """Into the run's artifact folder when it is local (atomic rename there), else uploaded."""
    if artifacts is not None:
        checkpoint.save(os.path.join(artifacts, checkpoint.FOLDER), state, keep)
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = checkpoint.save(scratch, state, keep)
        try:
            run.log_artifact(path, checkpoint.FOLDER)
        except Exception as error:
            print(f"ml: warning: checkpoint at step {state['step']} not uploaded ({type(error).__name__})",
                  file=sys.stderr)


def _experiment_name(cfg):
    return cfg.env.replace("/", "-") if cfg.env is not None else _dataset_name(cfg.dataset)


def _dataset_name(dataset):
    if os.path.exists(dataset):
        return os.path.splitext(os.path.basename(os.path.normpath(dataset)))[0]
    return dataset.rsplit(".", 1)[-1]
