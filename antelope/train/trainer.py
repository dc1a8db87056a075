"""The training loop: `ml()` calls `train()`, which calls the model's `learn()`.

A model's `learn(replay)` returning a loss is optimized by the trainer (antelope.train.update: zero_grad,
backward, step, and the scheduler); a `learn(replay, log)` returning None optimizes itself. Metrics written to
`log` are averaged and handed, as `train/<name>`, to the log's sinks (the run's tracking, its progress line, a
sweep trial), with the evaluation's (`eval/accuracy`, `eval/mse`, ...) at the trainer's global step. The loop
takes plain values and objects that know nothing of the config, MLflow or Optuna.
"""

import contextlib
import gc
import inspect
from dataclasses import dataclass
from typing import Callable, Optional

import torch

from ..errors import ConfigError, Diverged, OutOfMemory
from .interrupts import REQUEUE, Interrupted, stop_requests


@dataclass(frozen=True)
class Schedule:
    """When the loop acts, in steps, and what it calls then. `evaluate(step)` returns eval metrics;
    `save(step, metrics)` writes a checkpoint; `collect(step, log)`, for online tasks, adds experience to the
    replay before each step."""

    steps: int  # train until this global step
    evaluate: Callable[[int], dict]
    start: int = 0  # the step a resumed run stopped at
    log_every: int = 100  # average the logged metrics and write them
    evaluate_every: int = 500  # 0: only at the end
    save_every: int = 1000  # a checkpoint (also at each evaluation, the end included, and on a signal)
    save: Optional[Callable[[int, dict], None]] = None
    learn_every: int = 1  # call learn (and step the optimizer) on every Nth step only (RL: learn_per_steps)
    collect: Optional[Callable] = None

    def evaluates(self, step):
        return step == self.steps or self.evaluate_every and step % self.evaluate_every == 0


def train(model, replay, log, *, update, schedule):
    """Train from step `schedule.start` until `schedule.steps`; returns the last evaluation's metrics ({} when
    it evaluated none: a resumed run that had reached its end).

    `update` calls `learn` and steps the optimizer (antelope.train.update). A log sink may end training by
    raising (a sweep's pruner): the exception leaves as it is, without a checkpoint; so may `save` (another
    worker took the trial over). SIGINT/SIGTERM/SIGUSR2 end training after the step, with a checkpoint
    (antelope.train.interrupts)."""
    learn = update.learning(model)
    takes_log = len(inspect.signature(model.learn).parameters) >= 2
    step = written_at = schedule.start  # written_at: the step of the last metrics write
    metrics = {}
    model.train()
    with stop_requests() as interrupted, _garbage_collector_skipping_the_heap(), _out_of_memory(model, replay) as at:
        while step < schedule.steps:
            step += 1
            at.step = step
            if schedule.collect is not None:
                schedule.collect(step, log)
            if step % schedule.learn_every == 0:
                for _ in range(update.accumulation):
                    loss = learn(replay, log) if takes_log else learn(replay)
                    if loss is not None:
                        _check_loss(loss, model)
                        log.loss = loss
                        update.backward(loss)
                update.step(replay.epoch)
            evaluating = schedule.evaluates(step)
            logging = evaluating or step % schedule.log_every == 0
            if logging:
                reduced = _reduce(log, written_at, step, schedule.learn_every, update.lr)
                written = {f"train/{k}": v for k, v in reduced.items()}
                written_at = step
                if update.optimizer is not None:
                    written["train/lr"] = update.lr
                written["train/epoch"] = replay.epoch
                if evaluating:
                    metrics = schedule.evaluate(step)
                log.write({**written, **metrics} if evaluating else written, step, flush=evaluating)
            signals = interrupted()
            stopping = bool(signals)
            if update.group is not None:  # torchrun: all processes stop at one step,
                stopping = logging and update.any_process(stopping)  # agreed on where metrics sync anyway
            saving = evaluating or step % schedule.save_every == 0 or stopping  # evaluating: the last step too
            if schedule.save is not None and saving:
                schedule.save(step, metrics)
            if stopping:
                raise Interrupted(f"stopped at step {step}; a checkpoint was saved", requeue=REQUEUE in signals)
    return metrics


class _Step:
    step = 0


@contextlib.contextmanager
def _out_of_memory(model, replay):
    """The device's out-of-memory error as one that names the step, the batch size and the device's memory."""
    at = _Step()
    try:
        yield at
    except torch.OutOfMemoryError:
        device = next(model.parameters(), torch.empty(0)).device
        raise OutOfMemory(at.step, getattr(replay, "batch_size", None), device, _memory(device)) from None


def _memory(device):
    """'3.2 GiB allocated, 4.0 GiB reserved, 80.0 GiB in all' for a CUDA device; the host's free memory else."""
    gib = 1 << 30
    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        return (
            f"{torch.cuda.memory_allocated(device) / gib:.1f} GiB allocated, "
            f"{torch.cuda.memory_reserved(device) / gib:.1f} GiB reserved, {total / gib:.1f} GiB in all"
        )
    import psutil

    memory = psutil.virtual_memory()
    return f"{memory.available / gib:.1f} GiB free of {memory.total / gib:.1f} GiB"


@contextlib.contextmanager
def _garbage_collector_skipping_the_heap():
    """While training, the objects that exist before it (the model, data, and the hundreds of thousands
    that MLflow, Hydra and torch import) are frozen out of the garbage collector: each of its full
    collections, which the batches' allocations trigger now and then, would otherwise scan them all: a
    pause as long as hundreds of a small model's steps. New objects are collected as usual."""
    if gc.get_freeze_count():  # frozen by someone else already (e.g. before a fork): theirs to undo
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _reduce(log, since, step, learn_every=1, lr=None):
    """The logged means of steps since+1..step; a nan/inf loss stops training, naming its step and the lr."""
    learned = step // learn_every - since // learn_every  # the steps that called learn
    losses_per_step = max(1, len(log.pending().get("loss", ())) // max(learned, 1))
    means = log.reduce()
    if "loss" in log.nonfinite:
        first = (since // learn_every + 1 + log.nonfinite["loss"] // losses_per_step) * learn_every
        raise Diverged(means["loss"], first, lr)
    return means


def _check_loss(loss, model):
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else repr(loss)[:60]
        raise ConfigError(f"{type(model).__name__}.learn must return a scalar loss tensor or None; it returned {shape}")
