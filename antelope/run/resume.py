"""Continuing and repeating runs: `resume=<id>` (or `load=true`) continues a run from its newest checkpoint under
its recorded config, as the same MLflow run; `reproduce=<id>` runs a run's recorded config again, as a new run."""

import sys
from dataclasses import dataclass, field

from .. import tracking
from ..config import experiment_name, recorded
from ..errors import ConfigError
from ..train import checkpoint

# The keys a resume may be given: objects from Python (a model, a Dataset, transforms) the recorded config
# names but cannot hold, and where to train.
RESUMABLE = {"resume", "load", "device", "model._target_", "dataset", "experiment", "transform", "eval_transform"}


@dataclass(frozen=True)
class Resumed:
    run_id: str
    config: object  # the run's recorded config
    checkpoints: tuple  # its checkpoints (artifact paths), the newest first; none: it stopped before its first


@dataclass(frozen=True)
class Restored:
    """Where a run starts: the step, the last evaluation's metrics and the log's pending values."""

    step: int = 0
    metrics: dict = field(default_factory=dict)
    pending: dict = field(default_factory=dict)


def resumable(cfg, explicit):
    """The run `resume=<id>` / `load=true` names, its recorded config and its latest checkpoint; None without."""
    if cfg.resume is None and not cfg.load:
        return None
    extra = sorted(set(explicit) - RESUMABLE)
    if extra:
        raise ConfigError(
            f"resume continues a run under its recorded config; drop {', '.join(extra)} (only device= may change)"
        )
    run_id = cfg.resume or tracking.latest_run_id(experiment_name(cfg))
    found = tracking.resumable(run_id)
    stored = recorded(found.config_yaml)
    stored.device, stored.resume, stored.load = cfg.device, None, False
    return Resumed(run_id, stored, tuple(found.checkpoints))


def reproduction(cfg, explicit):
    """(config, tags) of a run: with `reproduce=<run_id>`, that run's recorded config (device= and
    experiment= may change), to run again as a new run tagged with its source, saying what differs since
    (git commit, package versions); else `cfg` as it is."""
    if cfg.reproduce is None:
        return cfg, {}
    extra = sorted(set(explicit) - {"reproduce", "device", "experiment"})
    if extra:
        raise ConfigError(
            f"reproduce runs a run's recorded config again; drop {', '.join(extra)} (only device= "
            f"and experiment= may change; to change more, run its command, in its description)"
        )
    found = tracking.recorded(cfg.reproduce)
    stored = recorded(found.config_yaml)
    stored.device, stored.reproduce = cfg.device, None
    if "experiment" in explicit:
        stored.experiment = cfg.experiment
    changes = tracking.changes_since(found.tags)
    print(
        f"ml: reproducing run {cfg.reproduce} as a new run"
        + (f"; differs from it: {'; '.join(changes)}" if changes else " (same git commit and package versions)"),
        file=sys.stderr,
    )
    return stored, {"antelope.reproduced_from": cfg.reproduce}


def restore(resumed, task, device, group):
    """Where the run starts: a resumed run's newest readable checkpoint, loaded into the task's pieces, or the
    beginning (also for a run stopped before its first checkpoint: it starts over as the same run, under its
    recorded config). A checkpoint that cannot be read (truncated on disk, a partial upload) is skipped, said in
    one line, for the one before it: that is what keep_checkpoints keeps them for."""
    if resumed is None or not resumed.checkpoints:
        return Restored(0, {}, {})
    saved = _newest_readable(resumed, device)
    saved["replay"] = _replay_state(saved["replay"], group)
    step, metrics, pending = checkpoint.restore(saved, task.model, task.update, task.replay)
    if task.env is not None:
        task.env.restart(step)
    return Restored(step, metrics, pending)


def _newest_readable(resumed, device):
    """The newest of the run's checkpoints that loads; an error naming why each failed when none does."""
    failures = []
    for path in resumed.checkpoints:
        try:
            return checkpoint.load(tracking.artifact_file(resumed.run_id, path), device)
        except ConfigError as error:
            failures.append(str(error))
            later = "the one before it" if path != resumed.checkpoints[-1] else "none is left"
            print(f"ml: skipped {path} of run {resumed.run_id}: {error}; {later}", file=sys.stderr)
    raise ConfigError(f"run {resumed.run_id} has no readable checkpoint: {'; '.join(failures)}")


def _replay_state(saved, group):
    """This process's replay state in a checkpoint; one written under torchrun holds every process's."""
    written, world = len(saved) if isinstance(saved, list) else 1, group.world if group is not None else 1
    if written != world:
        raise ConfigError(
            f"the checkpoint was written by {written} process(es) and this run has {world}; resume "
            f"with the same number" + (f" (torchrun --nproc-per-node={written} ...)" if written > 1 else "")
        )
    return saved[group.rank] if group is not None else saved
