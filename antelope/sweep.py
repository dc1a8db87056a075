"""Sweeps: one Optuna study over a space of overrides; one MLflow parent run; every trial one child run.

    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' 'optim=choice(SGD, Adam, AdamW)' sweep.trials=20
    ml -m sweep=default sweep.workers=2      # the preset sweeps/default.yaml, two worker processes

    from antelope import sweep
    study = sweep(model=Model, dataset='Digits', space={'lr': 'tag(log, interval(1e-5, 1e-1))'}, trials=20)

Every override whose value is a sweep expression is a search dimension (antelope.space); the rest are
fixed and given to every trial. A trial (antelope.trial) is `ml.run` of the fixed overrides plus the drawn
values, as a child run of the sweep's parent run (an explicit `mlflow.parentRunId`, so it holds from any
process or machine). Its objective is reported to Optuna at every evaluation; a trial the pruner stops
ends KILLED. The study lives in Optuna storage (antelope.studies: a journal file by default), so the same
command run again, or on several machines against one database, continues the same study and parent run
until it has `sweep.trials` trials; workers (antelope.workers) take over trials whose worker was lost.
"""
import hashlib
import math
import os
import pickle
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import config, overrides as lines, studies, tracking, warmstart, workers
from .report import finish, summary
from .errors import ConfigError
from .imports import did_you_mean
from .model import resolve
from .space import Space, grid
from .spec import DIRECTIONS, METRICS

# The presets this project ships: sweeps/ at the repository's top (a checkout or an editable install),
# installed as antelope/sweeps/ by a wheel (pyproject.toml maps the folder there).
_PACKAGE = Path(__file__).resolve().parent
PRESETS = _PACKAGE / "sweeps" if (_PACKAGE / "sweeps").is_dir() else _PACKAGE.parent / "sweeps"
PARENT_RUN = "mlflow_parent_run_id"  # the study's user attribute naming its MLflow parent run
LAUNCHERS = ("local", "slurm")  # sweep.launcher: worker processes here, or Slurm jobs (antelope.slurm)


def sweep(*overrides, space=None, preset=None, trials=None, sampler=None, pruner=None, objective=None,
          direction=None, study=None, storage=None, workers=None, heartbeat=None, register=None, launcher=None,
          slurm=None, enqueue=None, warm_start=None, **kwargs):
    """Search hyperparameters with Optuna, each trial one `ml()` run; returns the `optuna.Study`.

    `space` maps config keys to sweep expressions in Hydra's grammar, as on the console
    (`{'lr': 'tag(log, interval(1e-5, 1e-1))', 'optim': 'choice(SGD, Adam)'}`), or to a list of choices;
    `preset` names a file in `sweeps/` (or a path). `trials`, `sampler`, `pruner`, `objective`,
    `direction`, `study`, `storage`, `workers`, `heartbeat`, `register` (the best trial's model, when the
    sweep ends), `launcher`, `enqueue` and `warm_start` are the `sweep.*` settings (defaults in `ml --help`); `slurm` maps
    `sweep.slurm.*` keys to values (`{'partition': 'gpu', 'gpus': 1}`).
    Every other keyword is a fixed key of `ml()` (`model=Model`, `dataset='Digits'`, `train_steps=500`).
    """
    settings = dict(trials=trials, sampler=sampler, pruner=pruner, objective=objective, direction=direction,
                    study=study, storage=storage, workers=workers, heartbeat=heartbeat, register=register,
                    launcher=launcher, enqueue=enqueue, warm_start=warm_start,
                    **{f"slurm.{key}": value for key, value in (slurm or {}).items()})
    given = [f"sweep={preset}"] if preset else []
    for key, value in (space or {}).items():
        expression = value if isinstance(value, str) else f"choice({','.join(lines.format_value(v) for v in value)})"
        given.append(f"{key}={expression}")
    given += [f"sweep.{k}={lines.format_value(v)}" for k, v in settings.items() if v is not None]
    given, objects = lines.from_python([*given, *overrides], kwargs)
    return _sweep(given, objects)


def main(overrides):
    """`ml -m ...` / `ml --multirun ...`; returns the exit status."""
    _sweep(overrides, {})
    return 0


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
    heartbeat: int = 30
    register: str = None  # the registered model that the best trial's model becomes a version of
    parent_run_id: str = None
    warm_trials: int = 0  # the complete trials a warm start added (numbered first; not counted in `trials`)

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
        """The sampler, seeded apart for each worker and resume (`offset`), so none draws another's values."""
        return studies.sampler(self.sampler, self.seed + offset, grid(self.space) if self.sampler == "grid" else None)

    def new_pruner(self):
        return studies.pruner(self.pruner, self.train_steps, self.evaluate_per_steps)


def _sweep(given, objects):
    given = _expand_presets(given)
    settings = [line for line in given if lines.key(line).startswith("sweep.")]
    for line in settings:
        if lines.parse(line).is_sweep_override():
            raise ConfigError(f"{line!r}: sweep settings take one value, they are not search dimensions")
    space = Space.parse([line for line in given if line not in settings])
    cfg, _ = config.compose(space.probe() + settings)  # every key and value checked before any trial
    plan = _plan(cfg, space, objects, settings)
    count = cfg.sweep.workers
    if count < 1:
        raise ConfigError(f"sweep.workers={count} must be at least 1")
    if count > 1:
        _check_picklable(plan)
    launcher = cfg.sweep.launcher
    if launcher not in LAUNCHERS:
        raise ConfigError(f"unknown sweep.launcher={launcher!r}{did_you_mean(launcher, LAUNCHERS)}; "
                          f"choose one of {', '.join(LAUNCHERS)}")
    if count > 1 or launcher == "slurm":
        _check_picklable(plan)
    storage = studies.open_storage(plan.storage, count)
    study, created = studies.create_or_load(storage, plan.study, plan.directions, plan.new_sampler(),
                                            plan.new_pruner())
    if created:
        with warnings.catch_warnings():  # experimental in Optuna 5
            warnings.simplefilter("ignore")
            study.set_metric_names(list(plan.objectives))  # the front's columns in summaries and the dashboard
        if cfg.sweep.warm_start:
            warmstart.warm_start(study, storage, space, cfg.sweep.warm_start, plan.objectives, plan.directions)
    else:
        study.sampler = plan.new_sampler(len(study.get_trials(deepcopy=False)))  # a resumed sweep's draws anew
        if cfg.sweep.warm_start:
            print(f"ml: sweep.warm_start applies to a new study; study {plan.study} is resumed as it is",
                  file=sys.stderr)
    plan.warm_trials = study.user_attrs.get(warmstart.ADDED, 0)
    if cfg.sweep.enqueue:
        warmstart.enqueue(study, space, cfg.sweep.enqueue, plan.trials)
    plan.parent_run_id = _parent_run(study, plan, created)
    if launcher == "slurm":
        return _launch_on_slurm(study, plan, count, cfg.sweep.slurm)
    try:
        if count == 1:
            workers.work(study, storage, plan, {"antelope.worker": "0"})
        else:
            workers.run_workers(plan, count)
        finish(study, plan)
    except BaseException as error:
        tracking.end_run(plan.parent_run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    print(summary(study), flush=True)
    return study


def _launch_on_slurm(study, plan, count, settings):
    """Worker jobs for the trials the study still needs; the parent run is theirs to close from now on."""
    from optuna.trial import TrialState

    from . import slurm

    trials = study.get_trials(deepcopy=False)
    if len(trials) - plan.warm_trials >= plan.trials and not any(
            t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
        finish(study, plan)  # nothing left to run
        print(summary(study), flush=True)
        return study
    try:
        submitted, live = slurm.launch(plan, count, settings)
    except BaseException:
        tracking.end_run(plan.parent_run_id, "FAILED")
        raise
    tracking.set_tags(plan.parent_run_id, {"antelope.pid": ""})  # not this process's: it returns, the jobs go on
    print(f"ml: sweep {plan.study} (parent run {plan.parent_run_id}): {len(trials) - plan.warm_trials} of "
          f"{plan.trials} trials so far; "
          + (f"worker jobs {', '.join(live)} still queued or running; " if live else "")
          + (f"submitted worker jobs {', '.join(submitted)}" if submitted else "no worker job submitted")
          + f" (logs in {os.path.abspath(settings.folder)}/<job id>)", flush=True)
    if not settings.wait:
        print(f"ml: watch it with `squeue --jobs {','.join(live + submitted)}` or `ml runs`; the same command again "
              f"attaches to this sweep", flush=True)
        return study
    try:
        slurm.wait(plan, live + submitted)
    except KeyboardInterrupt:  # the jobs are Slurm's: they go on, and so does the parent run
        print(f"ml: stopped waiting; the worker jobs go on (squeue --jobs {','.join(live + submitted)})",
              file=sys.stderr)
        return study
    print(summary(studies.load(studies.open_storage(plan.storage, 2), plan.study, plan.new_sampler(),
                               plan.new_pruner())), flush=True)
    return study


def _expand_presets(given):
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
    raise ConfigError(f"unknown sweep preset {name!r}{did_you_mean(name, known)}; choose one of "
                      f"{', '.join(known) or '(none found)'} in ./sweeps or {PRESETS}, or give a path to a .yaml file")


def _plan(cfg, space, objects, settings):
    s = cfg.sweep
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
            raise ConfigError(f"sweep.sampler=cmaes optimizes one objective, not {len(objectives)} "
                              f"({', '.join(objectives)}); choose tpe, random, grid, gp or qmc")
        if s.register:
            raise ConfigError(f"sweep.register={s.register} needs one best trial; a sweep of {len(objectives)} "
                              f"objectives has a Pareto front: register one of its runs with ml register=...")
        if pruner != "none":
            print(f"ml: sweep.pruner={pruner} is off: Optuna prunes trials of one objective only", file=sys.stderr)
            pruner = "none"
    if s.heartbeat < 1:
        raise ConfigError(f"sweep.heartbeat={s.heartbeat} must be at least 1 (seconds)")
    experiment = config.experiment_name(cfg)  # the one its trials' runs go to
    storage = s.storage or os.path.abspath(studies.JOURNAL)
    name = s.study or _default_study_name(experiment, space, settings)
    return Plan(name, storage, space, objects, trials, sampler, pruner, s.seed, objectives, directions,
                cfg.train_steps if cfg.epochs is None else 0, cfg.evaluate_per_steps, experiment,
                tracking.tracking_uri(redacted=False), s.heartbeat, s.register)


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
        raise ConfigError(f"sweep.direction={list(given)} gives {len(given)} directions for {len(objectives)} "
                          f"objectives ({', '.join(objectives)}): give one per objective, in the same order")
    directions = tuple(str(d).lower() for d in given) or tuple(DIRECTIONS.get(o, "") for o in objectives)
    for objective, direction, said in zip(objectives, directions, given or [None] * len(objectives)):
        if direction not in ("maximize", "minimize"):
            problem = f"sweep.direction={said!r} is not valid" if said else \
                f"sweep.objective={objective} has no known direction"
            raise ConfigError(f"{problem}: give sweep.direction=maximize or sweep.direction=minimize"
                              + (" (a list, one per objective)" if len(objectives) > 1 else ""))
    return objectives, directions


def _main_metric(cfg, objects):
    """The metric the run's task evaluates; for a dataset, a look at its labels tells classification from
    regression."""
    if cfg.get("env"):
        return METRICS["rl"]
    if cfg.get("generate"):
        return METRICS["generate"]
    from . import datasets

    data = datasets.load(cfg.dataset, cfg.test_dataset, cfg.dataset_root, cfg.label_column, objects)
    return METRICS["classification" if data.num_classes else "regression"]


def _default_study_name(experiment, space, settings):
    """The same sweep command gives the same name (so running it again resumes); any other change to the
    space or the fixed keys gives a new study. sweep.trials, .workers, .launcher and .slurm.* may change on resume."""
    kept = [line for line in settings if lines.key(line) not in ("sweep.trials", "sweep.workers", "sweep.launcher")
            and not lines.key(line).startswith("sweep.slurm.")]
    text = "\n".join(sorted(space.fixed + kept + [f"{k}={v}" for k, v in space.describe().items()]))
    return f"{experiment}-sweep-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _parent_run(study, plan, created):
    """The sweep's MLflow run: created by whoever created the study, and found by everyone else through
    the study's user attribute (waiting a little for a creator that is still at it)."""
    import time

    run_id = study.user_attrs.get(PARENT_RUN)
    deadline = time.monotonic() + 60
    while run_id is None and not created and time.monotonic() < deadline:
        time.sleep(0.2)
        run_id = study.user_attrs.get(PARENT_RUN)
    params = {**{f"space.{k}": v for k, v in plan.space.describe().items()},
              "sweep.sampler": plan.sampler, "sweep.pruner": plan.pruner, "sweep.objective": ",".join(plan.objectives),
              "sweep.direction": ",".join(plan.directions), "sweep.study": plan.study, "sweep.seed": plan.seed,
              "sweep.storage": tracking.redact(plan.storage), "fixed": " ".join(plan.space.fixed)}
    tags = {"antelope.sweep": plan.study, "antelope.role": "sweep", "antelope.sweep.trials": str(plan.trials)}
    opened = tracking.open_parent_run(plan.experiment, plan.study, params, tags, run_id)
    if opened != run_id:
        study.set_user_attr(PARENT_RUN, opened)
    return opened


def _check_picklable(plan):
    try:
        pickle.dumps(plan)
    except Exception as error:
        raise ConfigError(f"sweep.workers > 1 runs trials in other processes, which cannot receive the model "
                          f"or dataset object ({error}); define it in an importable module, or use "
                          f"sweep.workers=1") from None
