"""ml(): compose the config, build what the run trains, open its MLflow run, train, close.

    from antelope import ml
    ml(model=Model, dataset='CIFAR10', lr=1e-2, lr_decay_epochs=1000)

From the model's `learn` back to the caller: learn <- train <- run <- ml. The pieces are built by their rooms
(antelope.run.task puts them together); what the run records goes through antelope.run.records.
"""

import contextlib
import sys
from dataclasses import dataclass, field
from typing import Optional, cast

import torch

from .. import tracking
from ..config import compose
from ..config import overrides as lines
from ..data import Split, as_float
from ..errors import Diverged
from ..metrics import PARAMETERS
from ..train import GenerativeEvaluation, Log, Progress, Schedule, checkpoint, distributed, evaluate, threads, train
from . import records, resume
from .keeping import Keeper
from .task import build_task, device_of


@dataclass
class Result:
    run_id: str
    experiment_id: str
    model: Optional[torch.nn.Module]  # None for a run submitted to Slurm (launcher=slurm): load(run_id) has it
    metrics: dict  # the kept model's evaluation (keep_model=best|last), e.g. {'eval/accuracy': 0.97}
    config: dict = field(repr=False)  # the resolved config the run recorded


def ml(*overrides, **kwargs):
    """Train a model on a dataset as one MLflow run; returns a `Result` (run_id, model, metrics).

    Keys are those of `ml --help`, given as keyword arguments (`lr=1e-2`, `model=Model`) or as override
    strings (`'optim=SGD'`, `'optim.lr=1e-2'`), exactly as on the console.
    """
    overrides, objects = lines.from_python(overrides, kwargs)
    cfg, explicit = compose(overrides)
    if cfg.launcher == "slurm":  # one Slurm job: its run is made now, and trained there
        from . import slurm

        run_id, experiment_id, metrics = slurm.submit(cfg, overrides, objects, explicit, run)
        return Result(run_id, experiment_id, None, metrics, {})
    return run(cfg, overrides, objects, explicit)


def run(cfg, overrides, objects, explicit=(), trial=None, job=None):
    """One run of a composed config: the shared path of `ml()`, the `ml` console and sweep trials.

    A sweep's `trial` nests the run under `trial.parent_run_id`, named `trial.run_name` and tagged with
    `trial.tags`; it is one of the log's sinks (`trial(metrics, step, flush)`: its pruner may end the run by
    raising), and `trial.check_owner(step)` before each checkpoint ends the run if another worker took the trial
    over. With `resume=<run_id>` (or `load=true`) the run continues from its latest checkpoint under its recorded
    config. `job`: the Slurm job it runs in (antelope.run.slurm), whose run it fills or resumes."""
    from omegaconf import OmegaConf  # imported when used, as Hydra, MLflow and Optuna: `import antelope` stays light

    resumed = resume.resumable(cfg, explicit)
    cfg, source = resume.reproduction(resumed.config if resumed is not None else cfg, explicit)
    device, group = distributed.join(device_of(cfg.device))  # group: None unless launched by torchrun
    leader = group is None or group.leader
    finished, task = False, None
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(cfg.seed)
            task = build_task(cfg, objects, explicit, device, group, record=cfg.tracking and leader and not resumed)
            start = resume.restore(resumed, task, device, group)
            count = cfg.threads or threads.choose(task.model, task.examples, cfg.batch_size, device)
            record = {**task.record(cast(dict, OmegaConf.to_container(cfg, resolve=True))), "threads": count}
            with (
                records.open_run(
                    cfg, record, overrides, task, group, resumed, start.step, trial, source, job
                ) as tracked,
                records.system_metrics(cfg, tracked, group, resumed),
                threads.using(count),
            ):
                if task.feed is not None:
                    task.feed.say_how_it_is_read()
                with Progress(task.steps, start.step, trial.label if trial is not None else "") as progress:
                    sinks = [progress, tracked.log_metrics if tracked.run_id else None, trial]
                    log = Log([sink for sink in sinks if sink is not None], start.pending)
                    keeper = Keeper.open(cfg, task, tracked, record, start.step, resumed)
                    schedule = Schedule(
                        steps=task.steps,
                        start=start.step,
                        evaluate=_evaluation(cfg, task, tracked, keeper),
                        save=_saver(cfg, task, tracked, log, group, trial, keeper),
                        collect=task.collect,
                        log_every=cfg.log_per_steps,
                        evaluate_every=cfg.evaluate_per_steps,
                        save_every=cfg.save_per_steps,
                        learn_every=cfg.learn_per_steps,
                    )
                    tracked.log_metrics({PARAMETERS: sum(p.numel() for p in task.model.parameters())}, 0)
                    with records.timed(tracked, resumed), _what_the_data_says(task):
                        metrics = (
                            train(task.model, task.replay, log, update=task.update, schedule=schedule) or start.metrics
                        )
                records.log_skipped(task, tracked, task.steps)
                if group is not None:
                    distributed.check_in_sync(group, task.model)
                metrics = keeper.finish(metrics)
        finished = True
    finally:
        if task is not None:
            task.close()
        distributed.leave(group, together=finished)
    if tracked.run_id is not None:
        summary = "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
        see = "" if trial is not None else f"\n    {tracking.see_it(tracked.experiment_id)}"  # a sweep says it once
        print(f"ml: run {tracked.run_id} finished: {summary}{see}", file=sys.stderr)
    return Result(tracked.run_id, tracked.experiment_id, task.model, metrics, record)


@contextlib.contextmanager
def _what_the_data_says(task):
    """A diverged loss is told what the run knows of its data: checked finite as it was read (antelope.data)."""
    try:
        yield
    except Diverged as error:
        if task.feed is not None:
            error.data = task.feed.checked
        raise


def _evaluation(cfg, task, tracked, keeper):
    """evaluate(step) for the task: returns its eval metrics, the model evaluated kept as a logged model."""
    evaluate = _evaluator(cfg, task, tracked)

    def evaluate_and_keep(step):
        metrics = evaluate(step)
        keeper.evaluated(step, metrics)
        return metrics

    return evaluate_and_keep


def _evaluator(cfg, task, tracked):
    if task.env is not None:
        return lambda step: task.env.evaluate(task.model, cfg.evaluate_episodes)
    if task.spec.task == "generate":
        test, train = task.feed.evaluation.test, task.feed.data.train
        return GenerativeEvaluation(
            task.model,
            Split(as_float(train.obs), train.label),
            Split(as_float(test.obs), test.label),
            task.feed.data.num_classes,
            tracked.log_artifact,
        )

    def evaluate_on_test(step):
        if step == task.steps:
            task.feed.stop_training_workers()
        return evaluate(task.model, task.feed.evaluation.batches(), task.feed.data.num_classes)

    return evaluate_on_test


def _saver(cfg, task, tracked, log, group, trial, keeper):
    """save(step, metrics): a checkpoint into the run's artifacts while the run is still this process's (a sweep
    trial may have been taken over); under torchrun every process's replay position goes into rank 0's
    checkpoint, since each process draws from its own shard."""

    def save(step, metrics):
        if trial is not None:
            trial.check_owner(step)
        replays = distributed.gather(group, task.replay.state_dict()) if group and cfg.tracking else None
        if tracked.run_id is not None:
            state = checkpoint.state(step, task.model, task.update, task.replay, log, metrics, tracked.run_id)
            if replays is not None:
                state["replay"] = replays
            checkpoint.save_in_run(tracked, state, cfg.keep_checkpoints, also=keeper.best_step)

    return save
