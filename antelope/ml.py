"""ml(): compose the config, build the data, model and optimizer, open the MLflow run, train.

    from antelope import ml
    ml(model=Model, dataset='CIFAR10', lr=1e-2, lr_decay_epochs=1000)

From the model's `learn` back to the caller: learn <- trainer.train <- run <- ml.

This is the one place where config values become pieces (the data, in memory or streamed, the model, the
optimizer, the tracking run), so it is longer than the others; the pieces themselves live in their modules.
"""
import contextlib
import os
import shlex
import sys
import time
from dataclasses import dataclass, field

import torch

from . import augment, checkpoint, config, datasets, distributed, environment, generative, optim, samples, stream
from . import threads
from . import tracking, trainer, transforms
from . import model as models, overrides as lines
from .errors import ConfigError
from .imports import qualified_name
from .log import Log
from .replay import Replay, ReplayBuffer
from .spec import PARAMETERS, TRAIN_SECONDS, spec_of
from .update import Update


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
    overrides, objects = lines.from_python(overrides, kwargs)
    cfg, explicit = config.compose(overrides)
    return run(cfg, overrides, objects, explicit)


def run(cfg, overrides, objects, explicit=(), trial=None):
    """One run of a composed config: the shared path of `ml()`, the `ml` console and sweep trials.

    A sweep's `trial` nests the run under `trial.parent_run_id`, named `trial.run_name` and tagged with
    `trial.tags`; it sees every metrics write (`trial(metrics, step, flush)`), and its `stop(step)`, asked
    after each evaluation and before each checkpoint, may end the run early (pruned, or taken over). With `resume=<run_id>` (or `load=true`) the
    run continues from its latest checkpoint under its recorded config."""
    from omegaconf import OmegaConf  # imported when used, as Hydra, MLflow and Optuna: `import antelope` stays light

    resumed = _resumable(cfg, explicit)
    cfg, source = _reproduction(resumed.config if resumed is not None else cfg, explicit)
    device, group = distributed.join(_device(cfg.device))  # group: None unless launched by torchrun
    finished, task = False, None
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            task = _build(cfg, objects, explicit, device, group)
            step, metrics, pending = _restore(resumed, task, device, group)
            if cfg.threads is None:
                cfg.threads = threads.choose(task.model, _inputs(task), cfg.batch_size, device)
            resolved = OmegaConf.to_container(cfg, resolve=True)  # final: train_steps is set from epochs
            with _open_run(cfg, resolved, overrides, task, group, resumed, trial, source) as tracked, \
                    _system_metrics(cfg, tracked, group, resumed), threads.using(cfg.threads):
                _say_how_data_is_read(task.reading)
                sinks = [s for s in (tracked.log_metrics if tracked.run_id else None, trial) if s is not None]
                log = Log(sinks, pending)
                schedule = trainer.Schedule(cfg.train_steps, cfg.log_per_steps, cfg.evaluate_per_steps,
                                            cfg.save_per_steps, cfg.learn_per_steps)
                tracked.log_metrics({PARAMETERS: sum(p.numel() for p in task.model.parameters())}, 0)
                with _timed(tracked, resumed):
                    metrics = trainer.train(task.model, task.replay, task.update, log,
                                            _evaluation(cfg, task, tracked), schedule, step, metrics,
                                            cfg.grad_accumulation, cfg.precision,
                                            _saver(cfg, task, tracked, log, group), task.collect,
                                            trial.stop if trial is not None else None,
                                            f"trial {trial.number}" if trial is not None else "")
                _log_skipped(task, tracked, schedule.steps)
                if group is not None:
                    distributed.check_in_sync(group, task.model)
                _log_model(cfg, task, tracked, resolved, metrics)
        finished = True
    finally:
        if task is not None:
            task.close()
        distributed.leave(group, together=finished)
    if tracked.run_id is not None:
        summary = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        print(f"ml: run {tracked.run_id} finished: {summary}\n"
              f"    see it with: ml ui   (or: ml runs, ml plot)", file=sys.stderr)
    return Result(tracked.run_id, tracked.experiment_id, task.model, metrics, resolved)


@contextlib.contextmanager
def _timed(tracked, resumed):
    """Records the seconds spent training, added to those of the run's earlier stretches (a resumed run),
    also when training stops on a signal or an error."""
    before = (tracking.last_metric(resumed.run_id, TRAIN_SECONDS) or 0.0) if resumed is not None else 0.0
    started = time.perf_counter()
    try:
        yield
    finally:
        tracked.log_metrics({TRAIN_SECONDS: before + time.perf_counter() - started}, 0)


@dataclass
class _Reading:
    """How a run reads its dataset: held in memory or streamed, and why; the transforms and worker processes."""
    streaming: bool
    why: str
    image_size: object  # None, N or (H, W)
    transform: object  # the training transform (a callable), or None
    eval_transform: object
    workers: int  # DataLoader worker processes
    sample: datasets.Split  # samples in memory: the training split itself, or a sample of a streamed one
    skipped: int = 0  # samples left out while reading into memory (bad_samples=skip)


@dataclass
class _Task:
    """What a run trains: the model, its data (a replay and a test split, or an environment), its update."""
    model: torch.nn.Module
    spec: object  # antelope.spec.Spec
    replay: object  # Replay, Stream or ReplayBuffer
    device: torch.device
    update: Update = None  # None: the model optimizes itself
    data: datasets.Data = None  # with a dataset: its splits, in memory or to stream
    reading: _Reading = None  # with a dataset
    evaluation: stream.Evaluation = None  # with a dataset: the test split's batches
    examples: torch.Tensor = None  # with a dataset: a few model inputs, on the device
    env: environment.Environment = None  # with env=

    @property
    def collect(self):
        """collect(step, log) for online tasks: one env step with the model, into the replay."""
        if self.env is None:
            return None
        return lambda step, log: self.env.collect(self.model, self.replay, step, log)

    def close(self):
        """Stops the worker processes that read streamed data."""
        for reader in (self.replay, self.evaluation):
            if callable(getattr(reader, "close", None)):
                reader.close()


def _build(cfg, objects, explicit, device, group):
    """The task's pieces, seeded by the caller: data or env, spec, model, replay, optimizer."""
    from omegaconf import OmegaConf

    target = objects.get("model", cfg.model._target_)
    # model=runs:/<id>/model: another run's trained model, to train on (fine-tune, fork)
    source = tracking.load_model(target, device) if tracking.is_model_uri(target) else models.resolve(target)
    model_kwargs = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k != "_target_"}
    data, reading, env, spec = _data(cfg, objects, device)
    model = models.build(source, spec, model_kwargs).to(device)
    if env is not None:
        if group is not None:
            raise ConfigError("env= with several processes (torchrun) is not supported; run one process per env")
        task = _Task(model, spec, ReplayBuffer(cfg.replay_capacity, cfg.batch_size, device, cfg.seed), device, env=env)
    else:
        task = _Task(model, spec, None, device, data=data, reading=reading)
        _read(cfg, task, group)
    if cfg.epochs is not None:
        cfg.train_steps = cfg.epochs * len(task.replay)
    task.update = _update(model, cfg, explicit, device, group)
    if cfg.compile:
        model.compile()
    return task


def _data(cfg, objects, device):
    """(data, reading, env, spec): a dataset (classification, regression, or generate=true), held in memory or
    streamed, or, with env=, an environment."""
    if cfg.env is not None:
        if cfg.epochs is not None or cfg.generate:
            raise ConfigError(f"env={cfg.env}: {'epochs' if cfg.epochs is not None else 'generate'}= does not "
                              f"apply to reinforcement learning; give train_steps= (env steps)")
        env = environment.Environment(cfg.env, cfg.seed, cfg.discrete, cfg.action_bins, cfg.nstep, cfg.discount,
                                      cfg.random_steps, cfg.envs)
        return None, None, env, env.spec
    if cfg.discrete is not None:
        raise ConfigError(f"discrete={cfg.discrete} converts an environment's action space; it needs env=")
    data = datasets.open_splits(cfg.dataset, cfg.test_dataset, cfg.dataset_root, cfg.label_column, objects)
    size = _image_size(cfg.image_size)
    streaming, why = stream.choose(cfg.stream, data, device, size, cfg.bad_samples, cfg.generate)
    if streaming and cfg.generate:
        raise ConfigError("generate=true compares its samples with the test split held in memory; drop stream=true")
    workers = stream.default_workers() if cfg.data_workers is None else cfg.data_workers
    # recorded as chosen: a resumed run reads its data as it did (a checkpoint's position is the path's own)
    cfg.stream, cfg.data_workers = streaming, workers
    reading = _Reading(streaming, why, size, transforms.build(objects.get("transform", list(cfg.transform))),
                       transforms.build(objects.get("eval_transform", list(cfg.eval_transform))), workers, None)
    if streaming:
        reading.sample = samples.sample(data.train, size, cfg.bad_samples)
    else:
        def skipped(n):
            reading.skipped += n
        data.train = samples.into_memory(data.train, size, workers, cfg.bad_samples, skipped)
        data.test = samples.into_memory(data.test, size, workers, cfg.bad_samples, skipped)
        reading.sample = data.train
    if data.num_classes is None:
        data.num_classes = datasets.num_classes(data.train, reading.sample.label)
    obs = reading.sample.obs
    if reading.transform is not None:  # the spec describes what the model gets: transformed samples
        obs = transforms.Batched(reading.transform)(datasets.as_float(obs[:samples.SPEC_SAMPLES]), cfg.seed)
    spec = spec_of(obs, reading.sample.label[:len(obs)], data.num_classes)
    return data, reading, None, generative.spec_of(spec) if cfg.generate else spec


def _image_size(value):
    """image_size= as resizing takes it: None, N, or (H, W)."""
    if value is None or isinstance(value, int):
        return value
    return tuple(value) if len(value) == 2 else int(value[0])


def _read(cfg, task, group):
    """The task's replay (its training split's batches), evaluation (its test split's) and input examples:
    from memory (this process's shard of it under torchrun), or streamed."""
    data, reading, device = task.data, task.reading, task.device
    shape = tuple(task.spec.obs.shape)
    if cfg.augment and len(shape) != 3:
        raise ConfigError(f"augment={list(cfg.augment)} needs images (N, C, H, W); dataset={cfg.dataset} has "
                          f"obs of shape {(len(task.data.train), *shape)}")
    if reading.streaming:
        rank, world = (group.rank, group.world) if group is not None else (0, 1)
        batch_size = distributed.per_rank(group, cfg.batch_size) if group is not None else cfg.batch_size
        task.replay = stream.Stream(data.train, batch_size, device, cfg.seed, shape, reading.image_size,
                                    reading.transform, reading.workers, cfg.bad_samples, rank, world,
                                    augment.compose(cfg.augment))
        task.evaluation = stream.Evaluation(data.test, device, cfg.seed, reading.image_size, reading.eval_transform,
                                            reading.workers, cfg.bad_samples,
                                            _eval_shape(data.test, reading, cfg.bad_samples))
        examples = reading.sample.obs[:5]
    else:
        obs, label, batch_size = data.train.obs, data.train.label, cfg.batch_size
        if group is not None:
            obs, label, batch_size = distributed.shard(group, obs, label, batch_size)
        if cfg.channels_last and obs.dim() == 4:
            obs = obs.contiguous(memory_format=torch.channels_last)  # the replay's batches keep the format
        batched = transforms.Batched(reading.transform) if reading.transform is not None else None
        task.replay = Replay(obs, label, batch_size, device, cfg.seed, augment.compose(cfg.augment), batched)
        test = datasets.Split(data.test.obs.to(device), data.test.label.to(device))
        if cfg.channels_last and test.obs.dim() == 4:
            task.model = task.model.to(memory_format=torch.channels_last)
            test.obs = test.obs.to(memory_format=torch.channels_last)
        task.evaluation = stream.Evaluation(test, device, cfg.seed, transform=reading.eval_transform)
        examples = test.obs[:5]
    task.examples = datasets.as_float(examples.to(device))
    if reading.eval_transform is not None:
        task.examples = transforms.Batched(reading.eval_transform)(task.examples, cfg.seed)


def _say_how_data_is_read(reading):
    """'ml: data: streamed by 2 worker processes (why)': once the run is open (an error before it stays one line)."""
    if reading is None:
        return
    workers = {0: "in the training process", 1: "by 1 worker process"}.get(reading.workers,
                                                                          f"by {reading.workers} worker processes")
    print(f"ml: data: {'streamed ' + workers if reading.streaming else 'in memory'} ({reading.why})", file=sys.stderr)


def _eval_shape(test, reading, bad_samples):
    """The shape of a test sample as the model gets it (after image_size= and eval_transform=)."""
    x, _ = samples.first_sample(test, reading.image_size, bad_samples)
    if reading.eval_transform is not None:
        x = transforms.Batched(reading.eval_transform)(datasets.as_float(x[None]), 0)[0]
    return tuple(x.shape)


def _log_skipped(task, tracked, step):
    """How many unreadable samples were left out (bad_samples=skip), as data/skipped_samples, when any were."""
    if task.reading is None:
        return
    skipped = task.reading.skipped + sum(getattr(reader, "skipped", 0) for reader in (task.replay, task.evaluation))
    if skipped:
        tracked.log_metrics({"data/skipped_samples": skipped}, step)
        print(f"ml: {skipped} unreadable samples were left out (bad_samples=skip)", file=sys.stderr)


def _update(model, cfg, explicit, device, group):
    """The trainer's optimizer step, or None for a model that keeps its own optimizer as an attribute
    (e.g. `self.optim`) and so optimizes itself in `learn`."""
    if group is not None:
        distributed.broadcast(group, model)
    if models.optimizes_itself(model):
        if group is not None:
            raise ConfigError(f"{type(model).__name__} steps its own optimizer, so its gradients cannot be "
                              f"averaged across processes; let learn return its loss to train with torchrun")
        given = sorted(k for k in explicit if k.split(".")[0] in ("optim", "scheduler", "lr", "lr_decay_epochs"))
        if given:
            import warnings

            warnings.warn(f"{', '.join(given)} not used: {type(model).__name__} has its own optimizer "
                          f"and optimizes itself in learn", stacklevel=5)
        return None
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ConfigError(f"model {type(model).__name__} has no trainable parameters for optim= to optimize")
    optimizer = optim.build_optimizer(cfg.optim, parameters)
    return Update(optimizer, optim.build_scheduler(cfg.scheduler, optimizer), device.type, cfg.grad_accumulation,
                  cfg.grad_clip, cfg.scheduler_interval == "step", cfg.precision == "fp16", group)


def _restore(resumed, task, device, group):
    """(step, last metrics, the log's pending values) to start from: a resumed run's checkpoint, loaded
    into the task's pieces, or the beginning (also for a run stopped before its first checkpoint: it
    starts over as the same run, under its recorded config)."""
    if resumed is None or resumed.checkpoint is None:
        return 0, {}, {}
    saved = checkpoint.load(resumed.checkpoint, device)
    saved["replay"] = _replay_state(saved["replay"], group)
    resumed.step, metrics, pending = checkpoint.restore(saved, task.model, task.update, task.replay)
    if task.env is not None:
        task.env.restart(resumed.step)
    return resumed.step, metrics, pending


def _saver(cfg, task, tracked, log, group):
    """save(step, metrics): a checkpoint into the run's artifacts (under torchrun, every process's replay
    position in rank 0's checkpoint, since each process draws from its own shard)."""
    def save(step, metrics):
        replays = distributed.gather(group, task.replay.state_dict()) if group and cfg.tracking else None
        if tracked.run_id is not None:
            state = checkpoint.state(step, task.model, task.update, task.replay, log, metrics, tracked.run_id)
            if replays is not None:
                state["replay"] = replays
            checkpoint.save_in_run(tracked, state, cfg.keep_checkpoints)
    return save


def _evaluation(cfg, task, tracked):
    """evaluate(step) for the task: returns its eval metrics."""
    if task.env is not None:
        return lambda step: task.env.evaluate(task.model, cfg.evaluate_episodes)
    if task.spec.task == "generate":
        test = task.evaluation.test
        return generative.Evaluation(task.model, datasets.Split(datasets.as_float(test.obs), test.label),
                                     tracked.log_artifact)

    def evaluate(step):
        if step == cfg.train_steps and isinstance(task.replay, stream.Stream):
            task.replay.close()  # training is over: its workers would only idle beside the evaluation's
        return trainer.evaluate(task.model, task.evaluation.batches(), task.data.num_classes)
    return evaluate


def _open_run(cfg, resolved, overrides, task, group, resumed, trial, source):
    """The run's MLflow run: new (with its data as inputs), or the resumed one RUNNING again; none with
    tracking=false or on a torchrun process other than rank 0 (which alone records the run). `source`:
    the tags of a run that reproduces or forks another."""
    if not cfg.tracking or group is not None and not group.leader:
        return tracking.Untracked()
    if resumed is not None:
        tracked = tracking.Run.reopen(resumed.run_id)
        if trial is not None:  # a trial taken over: its worker (process, Slurm job, node) is this one now
            tracking.set_tags(tracked.run_id, trial.tags)
        print(f"ml: run {tracked.run_id} resumed at step {resumed.step}" if resumed.checkpoint else
              f"ml: run {tracked.run_id} had no checkpoint yet: it starts over from step 0, as the same run",
              file=sys.stderr)
        return tracked
    if tracking.is_model_uri(cfg.model._target_):
        source = {**source, "antelope.forked_from": tracking.model_run_id(cfg.model._target_),
                  "antelope.forked_from_model": cfg.model._target_}
    reading = {"antelope.data": "streamed" if task.reading.streaming else "in memory",
               "antelope.data.why": task.reading.why} if task.reading is not None else {}
    tags = {"antelope.overrides": " ".join(overrides), "antelope.model": qualified_name(task.model),
            "antelope.dataset": cfg.env or cfg.dataset, "antelope.device": str(task.device), **reading,
            "antelope.task": task.spec.task_name, "antelope.processes": str(group.world if group else 1),
            **source, **(trial.tags if trial is not None else {})}
    name = trial.run_name if trial is not None else _run_name(task.model, overrides)
    command = "ml " + shlex.join(lines.readable(line) for line in overrides)
    tracked = tracking.Run.start(config.experiment_name(cfg), resolved, tags, name,
                                 trial.parent_run_id if trial is not None else None, command)
    if task.data is not None:  # the data as MLflow dataset inputs (an env has none to record)
        splits = (("train", task.data.train, cfg.dataset), ("eval", task.data.test, cfg.test_dataset or cfg.dataset))
        tracking.log_datasets(tracked.run_id, [_dataset_input(context, split, origin, task.reading, cfg.bad_samples)
                                               for context, split, origin in splits])
        task.reading.sample = None  # a streamed dataset's sample has served (spec, examples, this record)
    print(f"ml: run {tracked.run_id} started", file=sys.stderr)
    return tracked


def _dataset_input(context, split, origin, reading, bad_samples):
    """A split as an MLflow dataset input: one in memory by its content; a streamed one by its files (or its
    length) and a sample of its content."""
    name = os.path.basename(os.path.normpath(origin))
    if isinstance(split, datasets.Split):
        return tracking.DatasetInput(name, context, origin, datasets.digest(split), split.obs, split.label)
    sample = reading.sample if context == "train" else samples.sample(split, reading.image_size, bad_samples, n=16)
    return tracking.DatasetInput(name, context, origin, datasets.fingerprint(split, sample), sample.obs,
                                 sample.label, len(split))


def _system_metrics(cfg, tracked, group, resumed):
    """MLflow's system metrics for the run while it trains (system_metrics=true): under torchrun every
    process records its own, on rank 0's run, as node rank<N>."""
    run_id = distributed.share(group, tracked.run_id) if group is not None else tracked.run_id
    node = f"rank{group.rank}" if group is not None else None
    return tracking.SystemMetrics(run_id if cfg.system_metrics else None, node, resumed is not None)


def _log_model(cfg, task, tracked, resolved, metrics):
    """The trained model as the run's MLflow Model (in eval mode, as it is used), linked to the final
    evaluation's `metrics`, and registered under `register=` as a new version."""
    if tracked.run_id is None:
        return
    training = task.model.training
    task.model.eval()
    try:
        example = _example(task)
        logged = tracked.log_model(task.model, example, cfg.train_steps, lines.flatten(resolved),
                                   {"antelope.model": qualified_name(task.model), "antelope.task": task.spec.task_name},
                                   list(metrics))
    finally:
        task.model.train(training)
    if logged is not None and cfg.register:
        version = tracking.register_model(tracked.run_id, cfg.register)
        print(f"ml: its model is registered as {cfg.register} version {version} "
              f"(models:/{cfg.register}/{version})", file=sys.stderr)


def _inputs(task):
    """A few samples of the model's input, on its device: test samples, or an env's current observation."""
    return task.examples if task.examples is not None else task.env.observations().to(task.device)


def _example(task):
    """(inputs, outputs) of the model on a few samples of its data, as numpy arrays: the logged model's
    signature and input example. None when its forward does not take them (a GAN's takes noise)."""
    obs = _inputs(task)
    try:
        with torch.no_grad():
            output = task.model(obs)
    except Exception as error:  # the user's forward: any error means it takes something else
        print(f"ml: the model is logged without a signature: forward(obs) of the data raised "
              f"{type(error).__name__}", file=sys.stderr)
        return None
    if not isinstance(output, torch.Tensor):
        print(f"ml: the model is logged without a signature: forward(obs) returns a {type(output).__name__}, "
              f"not a tensor", file=sys.stderr)
        return None
    return obs.float().contiguous().cpu().numpy(), output.float().cpu().numpy()


def _run_name(model, overrides, limit=120):
    """'MLP optim=SGD optim.lr=0.01': the model and what was changed, for the MLflow UI's run lists."""
    changed = [o for o in overrides if not o.startswith(("model._target_=", "++model."))]
    name = tracking.redact(" ".join([type(model).__name__] + changed))
    return name if len(name) <= limit else name[:limit - 3] + "..."


def _device(name):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but no CUDA device is available; use device=auto or device=cpu")
    return torch.device(name)


@dataclass
class _Resumed:
    run_id: str
    config: object  # the run's recorded config
    checkpoint: str  # a local path; None when the run stopped before its first checkpoint
    step: int = 0  # the checkpoint's, once loaded


RESUMABLE = {"resume", "load", "device", "model._target_", "dataset", "experiment", "transform", "eval_transform"}
# the keys a resume may be given: objects from Python (a model, a Dataset, transforms) the recorded config names but cannot hold


def _resumable(cfg, explicit):
    """The run `resume=<id>` / `load=true` names, its recorded config and its latest checkpoint."""
    if cfg.resume is None and not cfg.load:
        return None
    extra = sorted(set(explicit) - RESUMABLE)
    if extra:
        raise ConfigError(f"resume continues a run under its recorded config; drop {', '.join(extra)} "
                          f"(only device= may change)")
    run_id = cfg.resume or tracking.latest_run_id(config.experiment_name(cfg))
    found = tracking.resumable(run_id)
    stored = config.recorded(found.config_yaml)
    stored.device, stored.resume, stored.load = cfg.device, None, False
    return _Resumed(run_id, stored, found.checkpoint)


def _reproduction(cfg, explicit):
    """(config, tags) of a run: with `reproduce=<run_id>`, that run's recorded config (device= and
    experiment= may change), to run again as a new run tagged with its source, saying what differs since
    (git commit, package versions); else `cfg` as it is."""
    if cfg.reproduce is None:
        return cfg, {}
    extra = sorted(set(explicit) - {"reproduce", "device", "experiment"})
    if extra:
        raise ConfigError(f"reproduce runs a run's recorded config again; drop {', '.join(extra)} (only device= "
                          f"and experiment= may change; to change more, run its command, in its description)")
    found = tracking.recorded(cfg.reproduce)
    stored = config.recorded(found.config_yaml)
    stored.device, stored.reproduce = cfg.device, None
    if "experiment" in explicit:
        stored.experiment = cfg.experiment
    changes = tracking.changes_since(found.tags)
    print(f"ml: reproducing run {cfg.reproduce} as a new run" +
          (f"; differs from it: {'; '.join(changes)}" if changes else " (same git commit and package versions)"),
          file=sys.stderr)
    return stored, {"antelope.reproduced_from": cfg.reproduce}


def _replay_state(saved, group):
    """This process's replay state in a checkpoint; one written under torchrun holds every process's."""
    written, world = len(saved) if isinstance(saved, list) else 1, group.world if group is not None else 1
    if written != world:
        raise ConfigError(f"the checkpoint was written by {written} process(es) and this run has {world}; resume "
                          f"with the same number" + (f" (torchrun --nproc-per-node={written} ...)" if written > 1 else ""))
    return saved[group.rank] if group is not None else saved
