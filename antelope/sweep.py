"""Sweeps: one Optuna study over a space of overrides; one MLflow parent run; every trial one child run.

    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' 'optim=choice(SGD, Adam, AdamW)' sweep.trials=20
    ml -m sweep=default sweep.workers=2      # the preset sweeps/default.yaml, two worker processes

    from antelope import sweep
    study = sweep(model=Model, dataset='Digits', space={'lr': 'tag(log, interval(1e-5, 1e-1))'}, trials=20)

Every override whose value is a sweep expression is a search dimension (see antelope.space); the rest
are fixed and given to every trial. A trial is `ml.run` of the fixed overrides plus the drawn values, as
a child run of the sweep's parent run (an explicit `mlflow.parentRunId`, so it holds from any process or
machine). Its objective metric is reported to Optuna at every evaluation, and a trial the pruner stops
ends KILLED. The study lives in Optuna storage (a journal file by default), so the same command run
again, or on several machines against one database, continues the same study and parent run until it
has `sweep.trials` trials.

A trial whose worker is lost (antelope.studies: by Optuna's heartbeat, or a dead process on this
machine) is taken over by the next free worker: the same trial number and the same child run, continued
from its latest checkpoint.
"""
import hashlib
import math
import os
import pickle
import shlex
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from . import config, studies, tracking
from .errors import ConfigError, Stop, TakenOver
from .imports import did_you_mean
from .ml import _dataset_name, _latest_checkpoint, _model_source, run
from .space import Space, grid

# The presets this project ships: sweeps/ at the repository's top (a checkout or an editable install),
# installed as antelope/sweeps/ by a wheel (pyproject.toml maps the folder there).
_PACKAGE = Path(__file__).resolve().parent
PRESETS = _PACKAGE / "sweeps" if (_PACKAGE / "sweeps").is_dir() else _PACKAGE.parent / "sweeps"
PARENT_RUN = "mlflow_parent_run_id"  # the study's user attribute naming its MLflow parent run
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler", "cmaes": "CmaEsSampler",
            "gp": "GPSampler", "qmc": "QMCSampler"}
PRUNERS = ("median", "hyperband", "halving", "none")
DIRECTIONS = {"eval/accuracy": "maximize", "eval/mse": "minimize", "eval/return": "maximize",
              "eval/moment_error": "minimize"}  # the tasks' main metrics
FINAL_STATES = ("COMPLETE", "PRUNED", "FAIL")  # Optuna's TrialState names


def sweep(*overrides, space=None, preset=None, trials=None, sampler=None, pruner=None, objective=None,
          direction=None, study=None, storage=None, workers=None, heartbeat=None, **kwargs):
    """Search hyperparameters with Optuna, each trial one `ml()` run; returns the `optuna.Study`.

    `space` maps config keys to sweep expressions in Hydra's grammar, as on the console
    (`{'lr': 'tag(log, interval(1e-5, 1e-1))', 'optim': 'choice(SGD, Adam)'}`), or to a list of choices;
    `preset` names a file in `sweeps/` (or a path). `trials`, `sampler`, `pruner`, `objective`,
    `direction`, `study`, `storage`, `workers` and `heartbeat` are the `sweep.*` settings (defaults in
    `ml --help`).
    Every other keyword is a fixed key of `ml()` (`model=Model`, `dataset='Digits'`, `train_steps=500`).
    """
    settings = dict(trials=trials, sampler=sampler, pruner=pruner, objective=objective, direction=direction,
                    study=study, storage=storage, workers=workers, heartbeat=heartbeat)
    lines = [f"sweep={preset}"] if preset else []
    for key, value in (space or {}).items():
        expression = value if isinstance(value, str) else f"choice({','.join(config._format(v) for v in value)})"
        lines.append(f"{key}={expression}")
    lines += [f"sweep.{k}={config._format(v)}" for k, v in settings.items() if v is not None]
    lines, objects = config.overrides_from_python([*lines, *overrides], kwargs)
    return _sweep(lines, objects)


def main(overrides):
    """`ml -m ...` / `ml --multirun ...`; returns the exit status."""
    _sweep(overrides, {})
    return 0


@dataclass
class _Plan:
    """What every worker process needs to run trials of one sweep (picklable)."""
    study: str
    storage: str
    space: Space
    objects: dict
    trials: int
    sampler: str
    pruner: str
    seed: int
    objective: str
    direction: str
    train_steps: int
    evaluate_per_steps: int
    experiment: str
    tracking_uri: str
    heartbeat: int = 30
    parent_run_id: str = None


def _sweep(lines, objects):
    lines = _expand_presets(lines)
    settings = [line for line in lines if config._parse(line).key_or_group.startswith("sweep.")]
    for line in settings:
        if config._parse(line).is_sweep_override():
            raise ConfigError(f"{line!r}: sweep settings take one value, they are not search dimensions")
    space = Space.parse([line for line in lines if line not in settings])
    cfg, _ = config.compose(space.probe() + settings)  # every key and value checked before any trial
    plan = _plan(cfg, space, objects, settings)
    workers = cfg.sweep.workers
    if workers < 1:
        raise ConfigError(f"sweep.workers={workers} must be at least 1")
    if workers > 1:
        _check_picklable(plan)
    client = tracking.client()  # one per process: creating an MlflowClient costs more than a trial's logging
    study = _open(plan, workers, client)
    try:
        if workers == 1:
            _work(study, plan, {"antelope.worker": "0"}, client)
        else:
            _run_workers(plan, workers, client)
        _finish(study, plan, client)
    except BaseException as error:
        status = "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED"
        client.set_terminated(plan.parent_run_id, status)
        raise
    print(summary(study), flush=True)
    return study


def _expand_presets(lines):
    """`sweep=<name>` -> the overrides in sweeps/<name>.yaml (or a path), in its place; later lines win."""
    import yaml

    expanded = []
    for line in lines:
        if config._parse(line).key_or_group != "sweep":
            expanded.append(line)
            continue
        path = _preset_path(line.split("=", 1)[1].strip("'\""))
        with open(path) as file:
            preset = yaml.safe_load(file) or {}
        if not isinstance(preset, dict):
            raise ConfigError(f"preset {path} must be a mapping of keys to values or sweep expressions")
        for key, value in tracking.flatten(preset).items():
            expanded.append(f"{key}={value if isinstance(value, str) else config._format(value)}")
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
    import mlflow

    s = cfg.sweep
    sampler = _choose("sampler", s.sampler, list(SAMPLERS), {"cmaes": ("cma",)})
    pruner = _choose("pruner", s.pruner, list(PRUNERS),
                     {"halving": ("successivehalving", "successive_halving", "sha"), "none": ("nop",)})
    trials = s.trials
    if trials < 1:
        raise ConfigError(f"sweep.trials={trials} must be at least 1")
    if sampler == "grid":
        sizes = [len(values) for values in grid(space).values()]
        trials = min(trials, math.prod(sizes))  # a grid has so many points
    _model_source(objects.get("model", cfg.model._target_))  # an unknown model is bad input, not a failed trial
    objective = s.objective or _main_metric(cfg, objects)
    direction = (s.direction or DIRECTIONS.get(objective, "")).lower()
    if direction not in ("maximize", "minimize"):
        given = f"sweep.direction={s.direction!r} is not valid" if s.direction else \
            f"sweep.objective={objective} has no known direction"
        raise ConfigError(f"{given}: give sweep.direction=maximize or sweep.direction=minimize")
    if s.heartbeat < 1:
        raise ConfigError(f"sweep.heartbeat={s.heartbeat} must be at least 1 (seconds)")
    experiment = cfg.experiment or _dataset_name(cfg.dataset)
    storage = s.storage or os.path.abspath(studies.JOURNAL)
    name = s.study or _default_study_name(experiment, space, settings)
    return _Plan(name, storage, space, objects, trials, sampler, pruner, s.seed, objective, direction,
                 cfg.train_steps if cfg.epochs is None else 0, cfg.evaluate_per_steps, experiment,
                 mlflow.get_tracking_uri(), s.heartbeat)


def _main_metric(cfg, objects):
    """The metric the run's task evaluates: eval/return (an env), eval/moment_error (generate=true),
    eval/accuracy (classes) or eval/mse (regression), which needs a look at the dataset's labels."""
    if cfg.get("env"):
        return "eval/return"
    if cfg.get("generate"):
        return "eval/moment_error"
    from . import datasets

    data = datasets.load(cfg.dataset, cfg.test_dataset, cfg.dataset_root, cfg.label_column, objects)
    return "eval/accuracy" if data.num_classes else "eval/mse"


def _choose(kind, given, names, aliases):
    name = given.lower().replace("-", "").removesuffix(kind)
    for canonical, others in aliases.items():
        if name in others:
            name = canonical
    if name not in names:
        raise ConfigError(f"unknown sweep.{kind}={given!r}{did_you_mean(name, names)}; choose one of {', '.join(names)}")
    return name


def _default_study_name(experiment, space, settings):
    """The same sweep command gives the same name (so running it again resumes); any other change to the
    space or the fixed keys gives a new study. sweep.trials and sweep.workers may change on resume."""
    kept = [line for line in settings if config._parse(line).key_or_group not in ("sweep.trials", "sweep.workers")]
    text = "\n".join(sorted(space.fixed + kept + [f"{k}={v}" for k, v in space.describe().items()]))
    return f"{experiment}-sweep-{hashlib.sha1(text.encode()).hexdigest()[:8]}"


def _sampler(plan, seed):
    import optuna

    class _Grid(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its `study.stop()` when the grid is used up (which only works
        inside `study.optimize`): a grid sweep already has at most as many trials as the grid has points."""

        def after_trial(self, study, trial, state, values):
            pass

    if plan.sampler == "grid":
        return _Grid(grid(plan.space), seed=seed)
    kind = getattr(optuna.samplers, SAMPLERS[plan.sampler])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return kind(seed=seed)


def _pruner(plan):
    import optuna

    first = plan.evaluate_per_steps or plan.train_steps or "auto"
    if plan.pruner == "median":  # no pruning before 5 finished trials nor in the first quarter of training
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=plan.train_steps // 4)
    if plan.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first, max_resource=plan.train_steps or "auto")
    if plan.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first)
    return optuna.pruners.NopPruner()


def _open(plan, workers, client):
    """The study (created, or loaded to resume) and its MLflow parent run (created, or RUNNING again)."""
    import optuna

    storage = studies.open_storage(plan.storage, workers, plan.heartbeat)
    try:
        study = optuna.create_study(storage=storage, study_name=plan.study, direction=plan.direction,
                                    sampler=_sampler(plan, plan.seed), pruner=_pruner(plan))
        created = True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=plan.study, storage=storage, pruner=_pruner(plan))
        if study.direction.name.lower() != plan.direction:
            raise ConfigError(f"study {plan.study!r} exists and is to {study.direction.name.lower()}; "
                              f"sweep.direction={plan.direction} needs another sweep.study") from None
        created = False
        study.sampler = _sampler(plan, plan.seed + len(study.trials))  # a resumed sampler draws anew
    plan.parent_run_id = _parent_run(study, plan, created, client)
    return study


def _parent_run(study, plan, created, client):
    """The sweep's MLflow run: created by whoever created the study, and found by everyone else through
    the study's user attribute (waiting a little for a creator that is still at it)."""
    from mlflow.entities import Param, RunTag

    run_id = study.user_attrs.get(PARENT_RUN)
    deadline = time.monotonic() + 60
    while run_id is None and not created and time.monotonic() < deadline:
        time.sleep(0.2)
        run_id = study.user_attrs.get(PARENT_RUN)
    tags = {"antelope.sweep": plan.study, "antelope.role": "sweep", "antelope.host": socket.gethostname(),
            "antelope.pid": str(os.getpid()), "antelope.sweep.trials": str(plan.trials)}
    if run_id is not None:
        try:
            client.update_run(run_id, status="RUNNING")
            client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            return run_id
        except Exception:  # a parent run in another tracking store: start one here
            pass
    experiment_id = tracking.experiment_id_of(client, plan.experiment)
    run_id = client.create_run(experiment_id, run_name=plan.study, tags=tags).info.run_id
    params = {**{f"space.{k}": v for k, v in plan.space.describe().items()},
              "sweep.sampler": plan.sampler, "sweep.pruner": plan.pruner, "sweep.objective": plan.objective,
              "sweep.direction": plan.direction, "sweep.study": plan.study, "sweep.seed": plan.seed,
              "sweep.storage": tracking.redact(plan.storage), "fixed": " ".join(plan.space.fixed)}
    client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    study.set_user_attr(PARENT_RUN, run_id)
    return run_id


def _check_picklable(plan):
    try:
        pickle.dumps(plan)
    except Exception as error:
        raise ConfigError(f"sweep.workers > 1 runs trials in other processes, which cannot receive the model "
                          f"or dataset object ({error}); define it in an importable module, or use "
                          f"sweep.workers=1") from None


def _devices():
    """The GPUs workers are pinned to, round-robin: CUDA_VISIBLE_DEVICES's list, else every GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def _run_workers(plan, count, client):
    """`count` processes (not threads: trials are CPU/GPU-bound), each running trials on the shared study
    until it has plan.trials; a worker starts its next trial as soon as its last one ends."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    devices = _devices()
    assignment = {worker: devices[worker % len(devices)] if devices else None for worker in range(count)}
    pinned = " ".join(f"{w}:cuda{d}" if d is not None else f"{w}:cpu" for w, d in assignment.items())
    client.set_tag(plan.parent_run_id, "antelope.workers", pinned)  # e.g. '0:cuda0 1:cuda1'
    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_process, plan, worker, device) for worker, device in assignment.items()]
        errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error


def _worker_process(plan, worker, device):
    import mlflow
    import optuna

    if device is not None:  # before anything touches CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    mlflow.set_tracking_uri(plan.tracking_uri)
    study = optuna.load_study(study_name=plan.study, storage=studies.open_storage(plan.storage, 2, plan.heartbeat),
                              pruner=_pruner(plan))
    study.sampler = _sampler(plan, plan.seed + 1000 * worker + len(study.trials))
    tags = {"antelope.worker": str(worker)}
    if device is not None:
        tags["antelope.cuda_visible_devices"] = device
    _work(study, plan, tags, tracking.client())


def _work(study, plan, tags, client):
    """Run trials until the study has plan.trials (counting those of every process and machine); a
    trial whose process died is taken over first, as the same trial and the same child run."""
    from optuna.trial import TrialState

    # Runs left RUNNING by dead processes of this host, closed once here rather than by every trial's run
    tracking.close_stale_runs(client, tracking.experiment_id_of(client, plan.experiment))
    while True:
        dead, why = studies.claim_lost_trial(study)
        trials = study.get_trials(deepcopy=False)
        if dead is not None:
            _trial(study, plan, tags, client, dead, why)
        elif len(trials) < plan.trials:
            _trial(study, plan, tags, client)
        elif any(t.state == TrialState.RUNNING for t in trials):
            time.sleep(min(plan.heartbeat, 2))  # trials run elsewhere: one may yet lose its worker
        else:
            return


def _trial(study, plan, tags, client, dead=None, why=None):
    """One trial: draw values, train them as a child run, tell Optuna how it ended. For a `dead` trial
    (its worker lost, `why`), its child run continues from its latest checkpoint instead."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    with warnings.catch_warnings():  # "Heartbeat of storage is supposed to be used with Study.optimize"
        warnings.filterwarnings("ignore", message="Heartbeat")
        trial = dead or study.ask()
    with get_heartbeat_thread(trial._trial_id, study._storage):  # Optuna's heartbeat, every sweep.heartbeat s
        _train_trial(study, plan, tags, client, trial, dead, why)


def _train_trial(study, plan, tags, client, trial, dead, why):
    from optuna.trial import TrialState

    if dead is None and trial.number >= plan.trials:  # another worker asked first: the study is full
        trial.set_user_attr("surplus", True)
        study.tell(trial, state=TrialState.FAIL)
        return
    trial.set_user_attr("process", studies.this_process())  # see studies.claim_lost_trial
    values = plan.space.suggest(trial)  # a dead trial's drawn values come back as they were
    overrides = plan.space.overrides(values)
    trial.set_user_attr("overrides", overrides)
    name = f"trial {trial.number}: " + " ".join(f"{k}={_short(v)}" for k, v in values.items())
    tags = {**tags, "antelope.sweep": plan.study, "antelope.trial": str(trial.number)}
    resume_from = _child_run_id(client, plan, trial.number) if dead else None
    if resume_from is not None and client.get_run(resume_from).info.status == "RUNNING":
        # Its worker is lost (judged above, by heartbeat or pid): end the run it left RUNNING, so that the
        # resume below may take it up (the resume's own check knows only processes of this machine).
        client.set_tag(resume_from, "antelope.stale", why)
        client.set_terminated(resume_from, "FAILED")
    if resume_from is not None and _latest_checkpoint(client, resume_from) is None:
        resume_from = None  # it died before its first checkpoint: train the trial anew
    if dead:
        print(f"ml: trial {trial.number} lost its process ({why}); continuing it"
              f"{' from run ' + resume_from if resume_from else ' from the start'}", file=sys.stderr)

    def report(step, metrics):
        owner = _owner(study, trial)
        if owner != studies.this_process():  # this worker was paused past its heartbeat's grace; another took over
            raise TakenOver(f"trial {trial.number} was taken over by {owner} (this worker's heartbeat had "
                            f"lapsed); this worker stops it at step {step} and leaves its run to {owner}")
        if plan.objective in metrics:
            trial.report(metrics[plan.objective], step)
            if trial.should_prune():
                raise Stop(f"trial {trial.number} pruned at step {step}")

    result, state, error = None, TrialState.COMPLETE, None
    try:
        cfg, explicit = config.compose(overrides)
        if resume_from is not None:
            cfg.resume, explicit = resume_from, {"resume"}
        result = run(cfg, overrides, plan.objects, explicit, parent_run_id=plan.parent_run_id, run_name=name,
                     tags=tags, on_evaluate=report)
    except TakenOver as taken:
        print(f"ml: {taken}", file=sys.stderr)
        return
    except Stop:
        state = TrialState.PRUNED
    except KeyboardInterrupt:
        _end(study, trial, plan, None, TrialState.FAIL, None, client)
        raise
    except Exception as failure:
        state, error = TrialState.FAIL, failure
    value = _objective_value(result, plan, client) if result is not None else None
    if result is not None and value is None:
        state, error = TrialState.FAIL, ConfigError(
            f"sweep.objective={plan.objective} was never logged by trial {trial.number} (run {result.run_id}); "
            f"its evaluation logged {', '.join(sorted(result.metrics)) or 'nothing'}: give "
            f"sweep.objective=<a metric the run logs>")
    elif value is not None and not math.isfinite(value):
        state = TrialState.FAIL  # Optuna would fail a nan objective anyway; the run's tag must agree
    _end(study, trial, plan, result.run_id if result else None, state, value, client)
    if error is not None:
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if isinstance(error, ConfigError) and (not finished or "sweep.objective" in str(error)):
            raise error  # bad input that every trial would hit: stop the sweep with its one-line message
        reason = (str(error).splitlines() or [""])[0]
        print(f"ml: trial {trial.number} failed ({type(error).__name__}: {reason}); the sweep goes on", file=sys.stderr)


def _end(study, trial, plan, run_id, state, value, client):
    """Tag the trial's run with how it ended, tell the study, and record the best value so far."""
    from optuna.trial import TrialState

    from mlflow.entities import Metric, RunTag

    owner = _owner(study, trial)
    if owner != studies.this_process():  # its heartbeat lapsed and another worker took it over
        print(f"ml: trial {trial.number} was taken over by {owner} (its heartbeat had lapsed); this worker's "
              f"result of it is dropped", file=sys.stderr)
        return
    run_id = run_id or _child_run_id(client, plan, trial.number)
    if run_id is not None:
        tags = {"antelope.trial_state": state.name, **({"pruned": "true"} if state == TrialState.PRUNED else {})}
        client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
        trial.set_user_attr("mlflow_run_id", run_id)
    study.tell(trial, value if state == TrialState.COMPLETE else None, state=state)
    try:
        best = study.best_value
    except ValueError:  # no trial has completed yet
        return
    client.log_batch(plan.parent_run_id, metrics=[Metric("sweep/best_value", best, int(time.time() * 1000), trial.number)])


def _owner(study, trial):
    """The worker process that runs `trial` now, as the study records it: the one that asked for it, or
    the one that took it over."""
    return study._storage.get_trial(trial._trial_id).user_attrs.get("process")


def _child_run_id(client, plan, number):
    """The run of a trial that ended in an exception (so ml.run returned nothing), found by its tags."""
    experiment = client.get_experiment_by_name(plan.experiment)
    if experiment is None:
        return None
    found = client.search_runs([experiment.experiment_id], f"tags.`antelope.sweep` = '{plan.study}' and "
                                                          f"tags.`antelope.trial` = '{number}'", max_results=1)
    return found[0].info.run_id if found else None


def _objective_value(result, plan, client):
    if plan.objective in result.metrics:
        return result.metrics[plan.objective]
    return client.get_run(result.run_id).data.metrics.get(plan.objective)


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _finish(study, plan, client):
    """The parent run's artifacts (trials.csv, plots); FINISHED unless trials still run elsewhere."""
    from optuna.trial import TrialState

    with tempfile.TemporaryDirectory() as folder:
        study.trials_dataframe().to_csv(os.path.join(folder, "trials.csv"), index=False)
        client.log_artifact(plan.parent_run_id, os.path.join(folder, "trials.csv"))
        plots = os.path.join(folder, "plots")
        os.makedirs(plots)
        _plot(study, plots)
        if os.listdir(plots):
            client.log_artifacts(plan.parent_run_id, plots, "plots")
    if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        client.set_terminated(plan.parent_run_id, "FINISHED")


def _plot(study, folder):
    """Optimization history, parallel coordinates and parameter importances as PNGs (where the trials
    allow: importances need two finished trials and two parameters)."""
    import matplotlib
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    for name in ("optimization_history", "parallel_coordinate", "param_importances"):
        try:  # rc_context: Optuna's plots switch matplotlib's global style to ggplot; undo that after
            with warnings.catch_warnings(), matplotlib.rc_context():
                warnings.simplefilter("ignore")
                axes = getattr(plots, f"plot_{name}")(study)
        except Exception:  # too few completed trials or parameters for this plot
            continue
        figure = (axes.flat[0] if hasattr(axes, "flat") else axes).figure
        figure.savefig(os.path.join(folder, f"{name}.png"), bbox_inches="tight")
        plt.close(figure)


def summary(study, top=5):
    """The best trials as a table, the best params and the `ml` command that reproduces the best trial."""
    import optuna
    from optuna.trial import TrialState

    import pandas as pd

    trials = study.get_trials(deepcopy=False)
    counts = ", ".join(f"{sum(t.state.name == s for t in trials)} {s}" for s in FINAL_STATES)
    lines = [f"sweep {study.study_name}: {len(trials)} trials ({counts})"]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return "\n".join(lines + ["no trial completed"])
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    complete.sort(key=lambda t: t.value, reverse=maximize)
    table = pd.DataFrame([{"trial": t.number, "value": t.value, **t.params,
                           "run": t.user_attrs.get("mlflow_run_id", "")} for t in complete[:top]])
    best = complete[0]
    lines += [f"best trials ({'highest' if maximize else 'lowest'} first):", table.to_string(index=False),
              f"best params: {best.params}",
              f"reproduce the best trial (run {best.user_attrs.get('mlflow_run_id')}) with:",
              f"  ml {shlex.join(best.user_attrs['overrides'])}"]
    return "\n".join(lines)
