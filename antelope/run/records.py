"""What a run records, said through the tracking room: its MLflow run opened (a new one with its data as inputs,
or a resumed one RUNNING again), its system metrics, the seconds it trained and the samples it skipped (its models:
antelope.run.keeping). None of it with tracking=false, nor on a torchrun process other than rank 0."""

import contextlib
import shlex
import sys
import time

from .. import tracking
from ..config import experiment_name
from ..config import overrides as lines
from ..imports import qualified_name
from ..metrics import TRAIN_SECONDS


def open_run(cfg, record, overrides, task, group, resumed, start, trial, source, job=None):
    """The run's MLflow run: new (with `record`, the resolved config, as params and its data as inputs), or the
    resumed one RUNNING again (from step `start`); an Untracked stand-in with tracking=false or on a torchrun
    process other than rank 0. `source`: the tags of a run that reproduces or forks another. `job`: the Slurm
    job it runs in (launcher=slurm), whose run was made when it was submitted: filled, or resumed, with the
    job's tags."""
    if not cfg.tracking or group is not None and not group.leader:
        return tracking.Untracked()
    if resumed is not None:
        tracked = tracking.Run.reopen(resumed.run_id)
        if trial is not None:  # a trial taken over: its worker (process, Slurm job, node) is this one now
            tracking.set_tags(tracked.run_id, trial.tags)
        if job is not None:  # requeued, or `resume=<id> launcher=slurm`: its job and nodes are these now
            tracking.set_tags(tracked.run_id, job.tags)
        print(
            f"ml: run {tracked.run_id} resumed at step {start}"
            if resumed.checkpoints
            else f"ml: run {tracked.run_id} had no checkpoint yet: it starts over from step 0, as the same run",
            file=sys.stderr,
        )
        return tracked
    if tracking.is_model_uri(cfg.model._target_):
        source = {
            **source,
            "antelope.forked_from": tracking.model_run_id(cfg.model._target_),
            "antelope.forked_from_model": cfg.model._target_,
        }
    feed = task.feed
    reading = (
        {"antelope.data": "streamed" if feed.reading.streaming else "in memory", "antelope.data.why": feed.reading.why}
        if feed is not None
        else {}
    )
    tags = {
        "antelope.overrides": " ".join(overrides),
        "antelope.model": qualified_name(task.model),
        "antelope.dataset": cfg.env or cfg.dataset,
        "antelope.device": str(task.device),
        **reading,
        "antelope.task": task.spec.task_name,
        "antelope.processes": str(group.world if group else 1),
        **source,
        **(trial.tags if trial is not None else {}),
        **(job.tags if job is not None else {}),
    }
    name = trial.run_name if trial is not None else run_name(task.model, overrides)
    command = "ml " + shlex.join(lines.readable(line) for line in overrides)
    tracked = tracking.Run.start(
        experiment_name(cfg),
        record,
        tags,
        name,
        trial.parent_run_id if trial is not None else None,
        command,
        queued=job.run_id if job is not None else None,
    )
    if feed is not None:  # the data as MLflow dataset inputs (an env has none to record)
        tracking.log_datasets(tracked.run_id, [tracking.DatasetInput(**split) for split in feed.records])
    print(f"ml: run {tracked.run_id} started", file=sys.stderr)
    return tracked


def system_metrics(cfg, tracked, group, resumed):
    """MLflow's system metrics for the run while it trains (system_metrics=true): under torchrun every
    process records its own, on rank 0's run, as node rank<N>."""
    from ..train import distributed

    run_id = distributed.share(group, tracked.run_id) if group is not None else tracked.run_id
    node = f"rank{group.rank}" if group is not None else None
    return tracking.SystemMetrics(run_id if cfg.system_metrics else None, node, resumed is not None)


@contextlib.contextmanager
def timed(tracked, resumed):
    """Records the seconds spent training, added to those of the run's earlier stretches (a resumed run),
    also when training stops on a signal or an error."""
    before = (tracking.last_metric(resumed.run_id, TRAIN_SECONDS) or 0.0) if resumed is not None else 0.0
    started = time.perf_counter()
    try:
        yield
    finally:
        tracked.log_metrics({TRAIN_SECONDS: before + time.perf_counter() - started}, 0)


def log_skipped(task, tracked, step):
    """How many unreadable samples were left out (bad_samples=skip), as data/skipped_samples, when any were."""
    skipped = task.feed.skipped if task.feed is not None else 0
    if skipped:
        tracked.log_metrics({"data/skipped_samples": skipped}, step)
        print(f"ml: {skipped} unreadable samples were left out (bad_samples=skip)", file=sys.stderr)


def run_name(model, overrides, limit=120):
    """'MLP optim=SGD optim.lr=0.01': the model and what was changed, for the MLflow UI's run lists."""
    changed = [o for o in overrides if not o.startswith(("model._target_=", "++model."))]
    name = tracking.redact(" ".join([type(model).__name__] + changed))
    return name if len(name) <= limit else name[: limit - 3] + "..."
