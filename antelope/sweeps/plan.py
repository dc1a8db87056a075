"""A sweep's plan: what every worker needs to run its trials (picklable), made from the sweep's overrides once,
before any trial: the presets expanded, the space, the sampler and pruner, the objectives and their directions,
the study's name.

    ml -m sweep=default            # the preset sweeps/default.yaml (or ./sweeps/<name>.yaml, or a path)
"""

import hashlib
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import tracking
from ..config import experiment_name
from ..config import overrides as lines
from ..errors import ConfigError
from ..imports import did_you_mean
from ..metrics import DIRECTIONS, METRICS
from ..train import resolve
from . import studies
from .space import Space, grid

# The presets this project ships: sweeps/ at the repository's top (a checkout or an editable install),
# installed as antelope/sweeps/presets/ by a wheel (pyproject.toml maps the folder there).
_INSTALLED = Path(__file__).resolve().parent / "presets"
PRESETS = _INSTALLED if _INSTALLED.is_dir() else Path(__file__).resolve().parents[2] / "sweeps"


@dataclass
class Plan:
    """What every worker process needs to run trials of one sweep (picklable)."""

    study: str
    storage: str
    space: Space
    objects: dict
    trials: int
    sampler: str
    pruner: str
    seed: int
    objectives: tuple  # the metrics optimized, the first also reported to the pruner (one objective) and drawn
    directions: tuple  # 'maximize' or 'minimize', one per objective
    train_steps: int  # 0 when trials count epochs
    evaluate_per_steps: int
    experiment: str
    tracking_uri: str
    heartbeat: int  # seconds between a running trial's heartbeats
    retries: int  # takeovers of a trial whose worker died, before it ends FAIL
    register: Optional[str] = None  # the registered model that the best trial's model becomes a version of
    parent_run_id: Optional[str] = None
    warm_trials: int = 0  # the complete trials a warm start added (numbered first; not counted in `trials`)
    seeds: int = 1  # runs per trial, one per seed: the trial's objective is their mean (antelope.sweeps.seeds)

    @property
    def objective(self):
        return self.objectives[0]

    @property
    def direction(self):
        return self.directions[0]

    @property
    def multi(self):
        """Several objectives: Optuna's multi-objective study, a Pareto front rather than a best trial."""
        return len(self.objectives) > 1

    def new_sampler(self, offset=0):
        """The sampler, seeded apart for each worker and resume (`offset`), so none draws another's values; but the
        grid sampler's seed is the sweep's in every worker: it gives trial k the k-th point of its grid as its seed
        shuffles it, so the workers must shuffle it alike to share one order and cover each point once."""
        if self.sampler == "grid":
            return studies.sampler(self.sampler, self.seed, grid(self.space))
        return studies.sampler(self.sampler, self.seed + offset)

    def new_pruner(self):
        return studies.pruner(self.pruner, self.train_steps, self.evaluate_per_steps)


def expand_presets(given):
    """`sweep=<name>` -> the overrides in sweeps/<name>.yaml (or a path), in its place; later lines win."""
    import yaml

    expanded = []
    for line in given:
        if lines.key(line) != "sweep":
            expanded.append(line)
            continue
        path = _preset_path(line.split("=", 1)[1].strip("'\""))
        with open(path) as file:
            preset = yaml.safe_load(file) or {}
        if not isinstance(preset, dict):
            raise ConfigError(f"preset {path} must be a mapping of keys to values or sweep expressions")
        for key, value in lines.flatten(preset).items():
            expanded.append(f"{key}={value if isinstance(value, str) else lines.format_value(value)}")
    return expanded


def _preset_path(name):
    if name.endswith((".yaml", ".yml")) or os.sep in name:
        if not os.path.isfile(name):
            raise ConfigError(f"sweep={name}: no such preset file")
        return name
    folders = [Path("sweeps"), PRESETS]
    for folder in folders:
        if (folder / f"{name}.yaml").is_file():
            return folder / f"{name}.yaml"
    known = sorted({p.stem for folder in folders if folder.is_dir() for p in folder.glob("*.yaml")})
    raise ConfigError(
        f"unknown sweep preset {name!r}{did_you_mean(name, known)}; choose one of "
        f"{', '.join(known) or '(none found)'} in ./sweeps or {PRESETS}, or give a path to a .yaml file"
    )


def plan_of(cfg, space, objects, settings):
    """The Plan of a sweep: its composed probe config `cfg` (every key checked), its `space`, the Python `objects`
    given for its keys, and its `settings` (the sweep.* override strings, which name the study when it has no
    name of its own)."""
    s = cfg.sweep
    if cfg.launcher != "local":
        raise ConfigError(
            f"launcher={cfg.launcher} submits one run; a sweep's trials go to Slurm with sweep.launcher=slurm "
            f"(sweep.slurm.* for their jobs)"
        )
    sampler, pruner = studies.choose("sampler", s.sampler), studies.choose("pruner", s.pruner)
    trials = s.trials
    if trials < 1:
        raise ConfigError(f"sweep.trials={trials} must be at least 1")
    if sampler == "grid":
        trials = min(trials, math.prod(len(values) for values in grid(space).values()))  # a grid has so many points
    resolve(objects.get("model", cfg.model._target_))  # an unknown model is bad input, not a failed trial
    objectives, directions = _objectives(cfg, objects)
    if len(objectives) > 1:
        if sampler == "cmaes":
            raise ConfigError(
                f"sweep.sampler=cmaes optimizes one objective, not {len(objectives)} "
                f"({', '.join(objectives)}); choose tpe, random, grid, gp or qmc"
            )
        if s.register:
            raise ConfigError(
                f"sweep.register={s.register} needs one best trial; a sweep of {len(objectives)} "
                f"objectives has a Pareto front: register one of its runs with ml register=..."
            )
        if pruner != "none":
            print(f"ml: sweep.pruner={pruner} is off: Optuna prunes trials of one objective only", file=sys.stderr)
            pruner = "none"
    if s.seeds < 1:
        raise ConfigError(f"sweep.seeds={s.seeds} must be at least 1 (runs per trial, one per seed)")
    if s.heartbeat < 1:
        raise ConfigError(f"sweep.heartbeat={s.heartbeat} must be at least 1 (seconds)")
    if s.retries < 0:
        raise ConfigError(f"sweep.retries={s.retries} must be at least 0 (0: a trial whose worker dies ends FAIL)")
    experiment = experiment_name(cfg)  # the one its trials' runs go to
    storage = s.storage or os.path.abspath(studies.JOURNAL)
    name = s.study or _default_study_name(experiment, space, settings)
    return Plan(
        study=name,
        storage=storage,
        space=space,
        objects=objects,
        trials=trials,
        sampler=sampler,
        pruner=pruner,
        seed=s.seed,
        objectives=objectives,
        directions=directions,
        train_steps=cfg.train_steps if cfg.epochs is None else 0,
        evaluate_per_steps=cfg.evaluate_per_steps,
        experiment=experiment,
        tracking_uri=tracking.tracking_uri(redacted=False),
        heartbeat=s.heartbeat,
        retries=s.retries,
        register=s.register,
        seeds=s.seeds,
    )


def _objectives(cfg, objects):
    """(objectives, directions): sweep.objective as a tuple of metrics (default: the task's main metric),
    sweep.direction one per metric (default: each metric's known direction)."""
    from omegaconf import ListConfig

    s = cfg.sweep

    def listed(value):
        return tuple(value) if isinstance(value, (list, tuple, ListConfig)) else (value,) if value else ()

    objectives, given = listed(s.objective) or (_main_metric(cfg, objects),), listed(s.direction)
    if len(set(objectives)) < len(objectives):
        raise ConfigError(f"sweep.objective={list(objectives)} names a metric twice")
    if given and len(given) != len(objectives):
        raise ConfigError(
            f"sweep.direction={list(given)} gives {len(given)} directions for {len(objectives)} "
            f"objectives ({', '.join(objectives)}): give one per objective, in the same order"
        )
    directions = tuple(str(d).lower() for d in given) or tuple(DIRECTIONS.get(o, "") for o in objectives)
    for objective, direction, said in zip(objectives, directions, given or [None] * len(objectives), strict=True):
        if direction not in ("maximize", "minimize"):
            problem = (
                f"sweep.direction={said!r} is not valid"
                if said
                else f"sweep.objective={objective} has no known direction"
            )
            raise ConfigError(
                f"{problem}: give sweep.direction=maximize or sweep.direction=minimize"
                + (" (a list, one per objective)" if len(objectives) > 1 else "")
            )
    return objectives, directions


def _main_metric(cfg, objects):
    """The metric the run's task evaluates; for a dataset, a look at its labels tells classification from
    regression."""
    if cfg.get("env"):
        return METRICS["rl"]
    if cfg.get("generate"):
        return METRICS["generate"]
    from ..data import classifies

    classification = classifies(
        objects.get("dataset", cfg.dataset),
        objects.get("test_dataset", cfg.test_dataset),
        cfg.dataset_root,
        cfg.label_column,
        objects,
        cfg.bad_samples,
    )
    return METRICS["classification" if classification else "regression"]


def _default_study_name(experiment, space, settings):
    """The same sweep command gives the same name (so running it again resumes); any other change to the
    space or the fixed keys gives a new study. sweep.trials, .workers, .launcher and .slurm.* may change on resume."""
    kept = [
        line
        for line in settings
        if lines.key(line) not in ("sweep.trials", "sweep.workers", "sweep.launcher")
        and not lines.key(line).startswith("sweep.slurm.")
    ]
    text = "\n".join(sorted(space.fixed + kept + [f"{k}={v}" for k, v in space.describe().items()]))
    return f"{experiment}-sweep-{hashlib.sha1(text.encode()).hexdigest()[:8]}"
