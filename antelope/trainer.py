"""The training loop and evaluation: `ml()` calls `train()`, which calls the model's `learn()`.

A model's `learn(replay)` returning a loss is optimized by the trainer (zero_grad, backward, step, and
the scheduler); a `learn(replay, log)` returning None optimizes itself. Metrics written to `log` are
recorded as `train/<name>`; evaluation results as `eval/accuracy` (classification) or `eval/mse`
(regression), at the trainer's global step.
"""
import contextlib
import gc
import inspect

import torch

from .errors import ConfigError, TrainingError
from .interrupts import Interrupted, stop_requests
from .progress import Progress

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def train(model, replay, evaluate, run, update, log, cfg, start=(0, {}), save=None, collect=None, on_evaluate=None):
    """Train until step cfg.train_steps (from `start`'s step); returns the last evaluation's metrics.

    `evaluate()` returns eval metrics; `update` is the trainer's optimizer step (None for a model that
    optimizes itself); `save(step, metrics)` writes a checkpoint, every cfg.save_per_steps, at the end
    and when a signal arrives; `collect(step, log)`, for online tasks, adds experience to the replay
    before each step."""
    learn = _learn_call(model, cfg.precision)
    # Plain ints, read once: a DictConfig attribute read costs microseconds, too much for every step.
    total, every_log, every_eval, every_save, accumulation = (
        cfg.train_steps, cfg.log_per_steps, cfg.evaluate_per_steps, cfg.save_per_steps, cfg.grad_accumulation)
    step, metrics = start
    written_at = step  # the step of the last metrics write
    progress = Progress(total, step)
    model.train()
    with stop_requests() as stop_requested, _garbage_collector_skipping_the_heap():
        while step < total:
            step += 1
            if collect is not None:
                collect(step, log)
            for _ in range(accumulation):
                loss = learn(replay, log)
                if loss is not None:
                    _check_loss(loss, model)
                    log.loss = loss
                    if update is not None:
                        update.backward(loss)
            if update is not None:
                update.step(replay.epoch)
            evaluating = step == total or every_eval and step % every_eval == 0
            logging = step % every_log == 0 or evaluating
            if logging:
                written = {f"train/{k}": v for k, v in _reduce(log, written_at, step).items()}
                written_at = step
                if update is not None:
                    written["train/lr"] = update.lr
                run.log_metrics({**written, "train/epoch": replay.epoch}, step)
                if evaluating:
                    metrics = evaluate()
                    run.log_metrics(metrics, step, flush=True)
                    if on_evaluate is not None:
                        on_evaluate(step, metrics)
                progress.update(step, {**written, **metrics})
            stop = stop_requested()
            if update is not None and update.group is not None:  # torchrun: all processes stop at one step,
                stop = logging and update.any_process(stop)     # agreed on where metrics sync anyway
            if save is not None and (step % every_save == 0 or step == total or stop):
                save(step, metrics)
            if stop:
                raise Interrupted(f"stopped at step {step}; a checkpoint was saved")
    progress.close()
    return metrics


def _learn_call(model, precision):
    """learn(replay, log) or learn(replay), whichever the model defines, under autocast for bf16/fp16
    (fp32 adds no context: entering even a disabled one costs microseconds every step)."""
    learn = model.learn if len(inspect.signature(model.learn).parameters) >= 2 else \
        lambda replay, log: model.learn(replay)
    if precision == "fp32":
        return learn
    device = next(model.parameters(), torch.empty(0)).device
    autocast = torch.autocast(device.type, dtype=PRECISIONS[precision])
    return autocast(learn)  # an autocast instance decorates a function


@contextlib.contextmanager
def _garbage_collector_skipping_the_heap():
    """While training, the objects that exist before it (the model, data, and the hundreds of thousands
    that MLflow, Hydra and torch import) are frozen out of the garbage collector: each of its full
    collections, which the batches' allocations trigger now and then, would otherwise scan them all
    (about 0.3 s, a pause of hundreds of steps of a small model). New objects are collected as usual."""
    if gc.get_freeze_count():  # frozen by someone else already (e.g. before a fork): theirs to undo
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _reduce(log, since, step):
    """The logged means of steps since+1..step; a nan/inf loss stops training, naming its step."""
    losses_per_step = max(1, len(log.pending().get("loss", ())) // (step - since))
    means = log.reduce()
    if "loss" in log.nonfinite:
        first = since + 1 + log.nonfinite["loss"] // losses_per_step
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
    one, else `model(obs)`."""
    predict = model.act if hasattr(model, "act") else model
    model.eval()
    try:
        outputs = torch.cat([predict(test.obs[i:i + max_batch]) for i in range(0, len(test.obs), max_batch)])
    finally:
        model.train()
    if num_classes is not None:
        return {"eval/accuracy": _accuracy(outputs, test.label, num_classes, model)}
    if outputs.numel() != test.label.numel():
        raise ConfigError(f"{type(model).__name__} output has shape {tuple(outputs.shape[1:])} per sample; "
                          f"the regression target has {tuple(test.label.shape[1:]) or (1,)}")
    return {"eval/mse": torch.mean((outputs.reshape(test.label.shape).float() - test.label) ** 2).item()}


def _accuracy(outputs, label, num_classes, model):
    if outputs.shape == label.shape and not outputs.dtype.is_floating_point:
        predicted = outputs  # act() returned class indices
    elif outputs.dim() == 2 and outputs.shape[1] == num_classes:
        predicted = outputs.argmax(1)
    else:
        raise ConfigError(f"{type(model).__name__} output has shape {tuple(outputs.shape[1:])} per sample; "
                          f"expected ({num_classes},): one logit per class")
    return (predicted == label).float().mean().item()
