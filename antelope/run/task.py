"""What a run trains, built whole from its config: the model, what it learns from (a dataset's feed, or an
environment and its replay buffer), the update that steps its optimizer, and for how many steps. Each piece
is built by its own room (antelope.data.Feed, antelope.train.Update, antelope.train.build); this module only
puts them together, in the order the random stream needs (the model's initialisation after the data)."""

import functools
import warnings
from dataclasses import dataclass, field
from typing import Optional, cast

import torch

from .. import tracking
from ..config import DATA_KEYS, RL_KEYS, SHORTHANDS, START_KEYS, TRAINER_UPDATE_KEYS, optimizers
from ..data import Environment, Feed, ReplayBuffer, Spec
from ..errors import ConfigError
from ..train import Update, build, distributed, optimizes_itself, own_settings, resolve

# Keys that set the trainer's optimizer: not used by a model that keeps its own.
OPTIMIZER_KEYS = ("optim", "scheduler", "lr", "lr_decay_epochs")


@dataclass(frozen=True)
class Task:
    model: torch.nn.Module
    spec: Spec
    replay: object  # Replay or Stream (a dataset's), ReplayBuffer (an env's)
    update: Update
    steps: int  # train_steps, or epochs= in steps
    device: torch.device
    feed: Optional[Feed] = None  # with a dataset
    env: Optional[Environment] = None  # with env=
    filled: dict = field(default_factory=dict)  # the model's arguments filled from the data (plain values)

    def record(self, config):
        """What ran, from the run's resolved `config` (a dict): what the run chose where it left it open (the
        steps, how its data is read, the model's arguments filled from the data), the optimizer and scheduler a
        model that optimizes itself keeps (read from them) in place of optim= and scheduler=, and none of the keys
        that did not apply (RL keys for a dataset, label_column for images, sweep settings: the parent run holds
        them, ...). What a run records, and a resume or a reproduction reads back (a key left out is its default
        there, and as unused)."""
        chosen = {"train_steps": self.steps, **(self.feed.choices if self.feed is not None else {})}
        ran = {**config, **chosen, "model": {**config["model"], **self.filled}}
        unused = {*START_KEYS, *(key for key in SHORTHANDS if ran[key] is None)}
        unused |= set(DATA_KEYS) if self.feed is None else {*RL_KEYS, *self.feed.unused}
        if self.update.optimizer is None:  # the model's own optimizer and scheduler ran, not the trainer's
            ran.update(own_settings(self.model))
            unused |= set(TRAINER_UPDATE_KEYS)
        elif self.update.scheduler is None:
            unused.add("scheduler_interval")
        return {key: value for key, value in ran.items() if key not in unused}

    @property
    def examples(self):
        """A few samples of the model's input, on its device: test samples, or an env's current observation."""
        if self.feed is not None:
            return self.feed.examples
        assert self.env is not None  # a task has one or the other
        return self.env.observations().to(self.device)

    @property
    def collect(self):
        """collect(step, log) for online tasks: one env step with the model, into the replay; else None."""
        if self.env is None:
            return None
        return lambda step, log: self.env.collect(self.model, self.replay, step, log)

    def close(self):
        """Stops the worker processes that read streamed data."""
        if self.feed is not None:
            self.feed.close()


def device_of(name):
    """The torch device `device=` names (auto: CUDA when present, else the CPU)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but no CUDA device is available; use device=auto or device=cpu")
    return torch.device(name)


def build_task(cfg, objects, explicit, device, group, record):
    """The task of config `cfg` (`objects`: Python objects given for its keys; `explicit`: the keys given), on
    `device`, in torchrun's `group` (or None); `record`: describe the data for the run's record. Seeded by the
    caller."""
    from omegaconf import OmegaConf

    target = objects.get("model", cfg.model._target_)
    # model=runs:/<id>/model: another run's trained model, to train on (fine-tune, fork)
    source = tracking.load_model(target, device) if tracking.is_model_uri(target) else resolve(target)
    arguments = {
        k: v for k, v in cast(dict, OmegaConf.to_container(cfg.model, resolve=True)).items() if k != "_target_"
    }
    feed = env = None
    if cfg.env is not None:
        if cfg.epochs is not None or cfg.generate:
            raise ConfigError(
                f"env={cfg.env}: {'epochs' if cfg.epochs is not None else 'generate'}= does not "
                f"apply to reinforcement learning; give train_steps= (env steps)"
            )
        if group is not None:
            raise ConfigError("env= with several processes (torchrun) is not supported; run one process per env")
        env = Environment(
            cfg.env, cfg.seed, cfg.discrete, cfg.action_bins, cfg.nstep, cfg.discount, cfg.random_steps, cfg.envs
        )
        spec = env.spec
        replay = ReplayBuffer(cfg.replay_capacity, cfg.batch_size, device, cfg.seed)
    else:
        if cfg.discrete is not None:
            raise ConfigError(f"discrete={cfg.discrete} converts an environment's action space; it needs env=")
        rank, world = (group.rank, group.world) if group is not None else (0, 1)
        feed = Feed.open(cfg, objects, device, rank, world, record)
        spec, replay = feed.spec, feed.replay
    model, filled = build(source, spec, arguments)
    model = model.to(device)
    if cfg.channels_last and len(spec.obs.shape) == 3:
        model = model.to(memory_format=torch.channels_last)
    if group is not None:
        distributed.broadcast(group, model)
    if optimizes_itself(model):
        given = sorted(k for k in explicit if k.split(".")[0] in OPTIMIZER_KEYS)
        if given:
            warnings.warn(
                f"{', '.join(given)} not used: {type(model).__name__} has its own optimizer "
                f"and optimizes itself in learn",
                stacklevel=4,
            )  # the caller of ml()
    update = Update.of(
        model,
        functools.partial(optimizers.build_optimizer, cfg.optim),
        functools.partial(optimizers.build_scheduler, cfg.scheduler),
        accumulation=cfg.grad_accumulation,
        precision=cfg.precision,
        clip=cfg.grad_clip,
        per_step=cfg.scheduler_interval == "step",
        group=group,
    )
    if cfg.compile:
        model.compile()
    steps = cfg.epochs * len(replay) if cfg.epochs is not None else cfg.train_steps
    return Task(model, spec, replay, update, steps, device, feed, env, filled)
