"""The training loop and evaluation: `ml()` calls `train()`, which calls the model's `learn()`.

A model's `learn(replay)` returning a loss is optimized by the trainer (zero_grad, backward, step, and
the scheduler); a `learn(replay, log)` returning None optimizes itself. Metrics written to `log` are
averaged and handed, as `train/<name>`, to the log's sink (the run's tracking); evaluation results
(`eval/accuracy`, `eval/mse`, ...) too, at the trainer's global step. The loop takes plain values and
objects that know nothing of the config, MLflow or Optuna.
"""
import contextlib
import gc
import inspect
from dataclasses import dataclass

import torch

from .errors import ConfigError, TrainingError
from .interrupts import REQUEUE, Interrupted, stop_requests
from .progress import Progress

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Schedule:
    """When the loop acts, in steps."""
    steps: int  # train until this global step
    log_every: int = 100  # average the logged metrics and write them
    evaluate_every: int = 500  # 0: only at the end
    save_every: int = 1000  # a checkpoint (also at the end and on a signal)
    learn_every: int = 1  # call learn (and step the optimizer) on every Nth step only (RL: learn_per_steps)

    def evaluates(self, step):
        return step == self.steps or self.evaluate_every and step % self.evaluate_every == 0


def train(model, replay, update, log, evaluate, schedule, start=0, metrics=None, accumulation=1, precision="fp32",
          save=None, collect=None, stop=None, label=""):
    """Train from step `start` until `schedule.steps`; returns the last evaluation's metrics.

    `update` is the trainer's optimizer step (None for a model that optimizes itself); `evaluate(step)`
    returns eval metrics; `save(step, metrics)` writes a checkpoint; `collect(step, log)`, for online
    tasks, adds experience to the replay before each step; `stop(step)`, asked after each evaluation and
    before each checkpoint, returns None to go on, or the exception to end training with (a sweep's
    pruner, another worker that took the run over): raised as it is, without a checkpoint. `label` starts
    each progress line (a sweep's trial says which it is). SIGINT/SIGTERM/SIGUSR2 end training after the
    step, with a checkpoint (antelope.interrupts)."""
    learn = _autocast(model, precision)
    takes_log = len(inspect.signature(model.learn).parameters) >= 2
    step, written_at = start, start  # written_at: the step of the last metrics write
    metrics = dict(metrics or {})
    model.train()
    with Progress(schedule.steps, start, label) as progress, stop_requests() as interrupted, \
            _garbage_collector_skipping_the_heap():
        while step < schedule.steps:
            step += 1
            if collect is not None:
                collect(step, log)
            if step % schedule.learn_every == 0:
                for _ in range(accumulation):
                    loss = learn(replay, log) if takes_log else learn(replay)
                    if loss is not None:
                        _check_loss(loss, model)
                        log.loss = loss
                        if update is not None:
                            update.backward(loss)
                if update is not None:
                    update.step(replay.epoch)
            evaluating = schedule.evaluates(step)
            logging = evaluating or step % schedule.log_every == 0
            if logging:
                written = {f"train/{k}": v for k, v in _reduce(log, written_at, step, schedule.learn_every).items()}
                written_at = step
                if update is not None:
                    written["train/lr"] = update.lr
                log.write({**written, "train/epoch": replay.epoch}, step)
                if evaluating:
                    metrics = evaluate(step)
                    log.write(metrics, step, flush=True)
                progress.update(step, {**written, **metrics})
            signals = interrupted()
            stopping = bool(signals)
            if update is not None and update.group is not None:  # torchrun: all processes stop at one step,
                stopping = logging and update.any_process(stopping)  # agreed on where metrics sync anyway
            saving = save is not None and (step % schedule.save_every == 0 or step == schedule.steps or stopping)
            if stop is not None and (evaluating or saving):  # a checkpoint only while the run is still ours
                ended = stop(step)
                if ended is not None:
                    raise ended
            if saving:
                save(step, metrics)
            if stopping:
                raise Interrupted(f"stopped at step {step}; a checkpoint was saved", requeue=REQUEUE in signals)
    return metrics


def _autocast(model, precision):
    """`model.learn`, under autocast for bf16/fp16 (fp32 adds no context: entering even a disabled one
    costs time every step)."""
    if precision == "fp32":
        return model.learn
    device = next(model.parameters(), torch.empty(0)).device
    return torch.autocast(device.type, dtype=PRECISIONS[precision])(model.learn)  # an autocast instance decorates


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


def _reduce(log, since, step, learn_every=1):
    """The logged means of steps since+1..step; a nan/inf loss stops training, naming its step."""
    learned = step // learn_every - since // learn_every  # the steps that called learn
    losses_per_step = max(1, len(log.pending().get("loss", ())) // max(learned, 1))
    means = log.reduce()
    if "loss" in log.nonfinite:
        first = (since // learn_every + 1 + log.nonfinite["loss"] // losses_per_step) * learn_every
        raise TrainingError(f"the loss became {means['loss']} at step {first} (train/loss is not finite); "
                            f"lower the learning rate or check the data")
    return means


def _check_loss(loss, model):
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        shape = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else repr(loss)[:60]
        raise ConfigError(f"{type(model).__name__}.learn must return a scalar loss tensor or None; it returned {shape}")


@torch.no_grad()
def evaluate(model, test, num_classes, max_batch=1024):
    """Accuracy (classification) or MSE (regression) on the test split, with `model.act` if it has
    one, else `model(obs)`. `test`: a Split in memory, or an iterable of (obs, label) batches (a stream's);
    either way it is evaluated batch by batch, summed on the device."""
    from .datasets import Split, as_float

    predict = model.act if hasattr(model, "act") else model
    batches = test
    if isinstance(test, Split):
        batches = ((as_float(test.obs[i:i + max_batch]), test.label[i:i + max_batch]) for i in range(0, len(test), max_batch))
    model.eval()
    total, count = 0, 0
    try:
        for obs, label in batches:
            outputs = predict(obs)
            if num_classes is not None:
                total = total + (_predicted(outputs, label, num_classes, model) == label).sum()
            else:
                if outputs.numel() != label.numel():
                    raise ConfigError(f"{type(model).__name__} output has shape {tuple(outputs.shape[1:])} per sample; "
                                      f"the regression target has {tuple(label.shape[1:]) or (1,)}")
                total = total + ((outputs.reshape(label.shape).float() - label) ** 2).sum()
            count += label.numel() if num_classes is None else len(label)
    finally:
        model.train()
    value = float(total) / max(count, 1)
    return {"eval/accuracy": value} if num_classes is not None else {"eval/mse": value}


def _predicted(outputs, label, num_classes, model):
    """The predicted class of each sample: act() may return class indices, forward one logit per class."""
    if outputs.shape == label.shape and not outputs.dtype.is_floating_point:
        return outputs  # act() returned class indices
    if outputs.dim() == 2 and outputs.shape[1] == num_classes:
        return outputs.argmax(1)
    raise ConfigError(f"{type(model).__name__} output has shape {tuple(outputs.shape[1:])} per sample; "
                      f"expected ({num_classes},): one logit per class")
