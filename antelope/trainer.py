"""The training loop and evaluation: `ml()` calls `train()`, which calls the model's `learn()`.

A model's `learn(replay)` returning a loss is optimized by the trainer (zero_grad, backward, step, and
the scheduler); a `learn(replay, log)` returning None optimizes itself. Metrics written to `log` are
recorded as `train/<name>`; evaluation results as `eval/accuracy` (classification) or `eval/mse`
(regression), at the trainer's global step.
"""
import inspect

import torch

from .errors import ConfigError
from .progress import Progress


def train(model, replay, test, num_classes, run, optimizer, scheduler, log, cfg, on_evaluate=None):
    """Train for cfg.train_steps calls to learn; returns the last evaluation's metrics."""
    learn_takes_log = len(inspect.signature(model.learn).parameters) >= 2
    progress, metrics, epoch = Progress(cfg.train_steps), {}, replay.epoch
    model.train()
    for step in range(1, cfg.train_steps + 1):
        loss = model.learn(replay, log) if learn_takes_log else model.learn(replay)
        if loss is not None:
            _check_loss(loss, model)
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            log.loss = loss
        if scheduler is not None and (cfg.scheduler_interval == "step" or replay.epoch > epoch):
            for _ in range(1 if cfg.scheduler_interval == "step" else replay.epoch - epoch):
                scheduler.step()
        epoch = replay.epoch
        evaluating = step == cfg.train_steps or cfg.evaluate_per_steps and step % cfg.evaluate_per_steps == 0
        if step % cfg.log_per_steps == 0 or evaluating:
            written = {f"train/{k}": v for k, v in log.reduce().items()}
            if optimizer is not None:
                written["train/lr"] = optimizer.param_groups[0]["lr"]
            run.log_metrics({**written, "train/epoch": replay.epoch}, step)
            if evaluating:
                metrics = evaluate(model, test, num_classes)
                run.log_metrics(metrics, step, flush=True)
                if on_evaluate is not None:
                    on_evaluate(step, metrics)
            progress.update(step, {**written, **metrics})
    progress.close()
    return metrics


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
