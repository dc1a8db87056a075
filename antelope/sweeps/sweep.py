"""Sweeps: one Optuna study over a space of overrides; one MLflow parent run; every trial one child run.

    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' 'optim=choice(SGD, Adam, AdamW)' sweep.trials=20
    ml -m sweep=default sweep.workers=2      # the preset sweeps/default.yaml, two worker processes

    from antelope import sweep
    study = sweep(model=Model, dataset='Digits', space={'lr': 'tag(log, interval(1e-5, 1e-1))'}, trials=20)

Every override whose value is a sweep expression is a search dimension (antelope.sweeps.space); the rest are fixed
and given to every trial (antelope.sweeps.plan). A trial (antelope.sweeps.trial) is `run` of the fixed overrides
plus the drawn values, as a child run of the sweep's parent run (an explicit `mlflow.parentRunId`, so it holds from
any process or machine). Its objective is reported to Optuna at every evaluation; a trial the pruner stops ends
FINISHED, tagged pruned (MLflow has no PRUNED status, and KILLED reads as a failure). The study lives in Optuna
storage (antelope.sweeps.studies: a journal file by default), so the same command run again, or on several machines
against one database, continues the same study and parent run until it has `sweep.trials` trials; workers
(antelope.sweeps.workers) take over trials whose worker was lost.
"""

import os
import pickle
import sys
import warnings
from typing import cast

from .. import tracking
from ..config import compose
from ..config import overrides as lines
from ..errors import ConfigError
from ..imports import did_you_mean
from . import studies, warmstart, workers
from .plan import expand_presets, plan_of
from .report import finish, summary
from .space import Space

PARENT_RUN = "mlflow_parent_run_id"  # the study's user attribute naming its MLflow parent run
LAUNCHERS = ("local", "slurm")  # sweep.launcher: worker processes here, or Slurm jobs (antelope.sweeps.slurm)


def sweep(
    *overrides,
    space=None,
    preset=None,
    trials=None,
    seeds=None,
    sampler=None,
    pruner=None,
    objective=None,
    direction=None,
    study=None,
    storage=None,
    workers=None,
    heartbeat=None,
    retries=None,
    register=None,
    launcher=None,
    slurm=None,
    enqueue=None,
    warm_start=None,
    **kwargs,
):
    """Search hyperparameters with Optuna, each trial one `ml()` run; returns the `optuna.Study`.

    `space` maps config keys to sweep expressions in Hydra's grammar, as on the console
    (`{'lr': 'tag(log, interval(1e-5, 1e-1))', 'optim': 'choice(SGD, Adam)'}`), or to a list of choices;
    `preset` names a file in `sweeps/` (or a path). `trials`, `seeds` (runs per trial, one per seed: the trial's
    objective their mean), `sampler`, `pruner`, `objective`,
    `direction`, `study`, `storage`, `workers`, `heartbeat`, `retries`, `register` (the best trial's model, when
    the sweep ends), `launcher`, `enqueue` and `warm_start` are the `sweep.*` settings (defaults in `ml --help`);
    `slurm` maps `sweep.slurm.*` keys to values (`{'partition': 'gpu', 'gpus': 1}`).
    Every other keyword is a fixed key of `ml()` (`model=Model`, `dataset='Digits'`, `train_steps=500`).
    """
    settings = dict(
        trials=trials,
        seeds=seeds,
        sampler=sampler,
        pruner=pruner,
        objective=objective,
        direction=direction,
        study=study,
        storage=storage,
        workers=workers,
        heartbeat=heartbeat,
        retries=retries,
        register=register,
        launcher=launcher,
        enqueue=enqueue,
        warm_start=warm_start,
        **{f"slurm.{key}": value for key, value in (slurm or {}).items()},
    )
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


def _sweep(given, objects):
    given = expand_presets(given)
    settings = [line for line in given if lines.key(line).startswith("sweep.")]
    for line in settings:
        if lines.parse(line).is_sweep_override():
            raise ConfigError(f"{line!r}: sweep settings take one value, they are not search dimensions")
    space = Space.parse([line for line in given if line not in settings])
    cfg, _ = compose(space.probe() + settings)  # every key and value checked before any trial
    plan = plan_of(cfg, space, objects, settings)
    count = cfg.sweep.workers
    if count < 1:
        raise ConfigError(f"sweep.workers={count} must be at least 1")
    if count > 1:
        _check_picklable(plan)
    launcher = cfg.sweep.launcher
    if launcher not in LAUNCHERS:
        raise ConfigError(
            f"unknown sweep.launcher={launcher!r}{did_you_mean(launcher, LAUNCHERS)}; "
            f"choose one of {', '.join(LAUNCHERS)}"
        )
    if count > 1 or launcher == "slurm":
        _check_picklable(plan)
    storage = studies.open_storage(plan.storage, count)
    study, created = studies.create_or_load(storage, plan.study, plan.directions, plan.new_sampler(), plan.new_pruner())
    if created:
        with warnings.catch_warnings():  # experimental in Optuna 5
            warnings.simplefilter("ignore")
            study.set_metric_names(list(plan.objectives))  # the front's columns in summaries and the dashboard
        if cfg.sweep.warm_start:
            import optuna
            from omegaconf import OmegaConf

            config = lines.flatten(cast(dict, OmegaConf.to_container(cfg, resolve=True)))
            try:
                warmstart.warm_start(
                    study, storage, space, cfg.sweep.warm_start, plan.objectives, plan.directions, config, plan.seeds
                )
            except ConfigError:
                optuna.delete_study(study_name=plan.study, storage=storage)  # run again, it starts anew
                raise
    else:
        study.sampler = plan.new_sampler(len(study.get_trials(deepcopy=False)))  # a resumed sweep's draws anew
        if cfg.sweep.warm_start:
            print(
                f"ml: sweep.warm_start applies to a new study; study {plan.study} is resumed as it is", file=sys.stderr
            )
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
            workers.run_workers(plan, count, study, storage)
        finish(study, plan)
    except BaseException as error:
        tracking.end_run(plan.parent_run_id, "KILLED" if isinstance(error, KeyboardInterrupt) else "FAILED")
        raise
    _summarize(study, plan)
    return study


def _launch_on_slurm(study, plan, count, settings):
    """Worker jobs for the trials the study still needs; the parent run is theirs to close from now on."""
    from optuna.trial import TrialState

    from . import slurm

    trials = study.get_trials(deepcopy=False)
    started = len(studies.counted(trials)) - plan.warm_trials
    if started >= plan.trials and not any(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials):
        finish(study, plan)  # nothing left to run
        _summarize(study, plan)
        return study
    try:
        submitted, live = slurm.launch(plan, count, settings)
    except BaseException:
        tracking.end_run(plan.parent_run_id, "FAILED")
        raise
    tracking.set_tags(plan.parent_run_id, {"antelope.pid": ""})  # not this process's: it returns, the jobs go on
    print(
        f"ml: sweep {plan.study} (parent run {plan.parent_run_id}): {started} of "
        f"{plan.trials} trials so far; "
        + (f"worker jobs {', '.join(live)} still queued or running; " if live else "")
        + (f"submitted worker jobs {', '.join(submitted)}" if submitted else "no worker job submitted")
        + f" (logs in {os.path.abspath(settings.folder)}/<job id>)",
        flush=True,
    )
    if not settings.wait:
        print(
            f"ml: watch it with `squeue --jobs {','.join(live + submitted)}` or `ml runs`; the same command again "
            f"attaches to this sweep",
            flush=True,
        )
        return study
    try:
        slurm.wait(plan, live + submitted)
    except KeyboardInterrupt:  # the jobs are Slurm's: they go on, and so does the parent run
        print(
            f"ml: stopped waiting; the worker jobs go on (squeue --jobs {','.join(live + submitted)})", file=sys.stderr
        )
        return study
    _summarize(
        studies.load(studies.open_storage(plan.storage, 2), plan.study, plan.new_sampler(), plan.new_pruner()), plan
    )
    return study


def _summarize(study, plan):
    """The sweep's summary on stdout, and where to see its runs: said once for the sweep, not per trial."""
    print(summary(study), flush=True)
    print(f"ml: {tracking.see_it(tracking.experiment_id_of(plan.experiment))}", file=sys.stderr)


def _parent_run(study, plan, created):
    """The sweep's MLflow run: created by whoever created the study, and found by everyone else through
    the study's user attribute (asked again for up to a minute while its creator, another machine starting the
    same sweep, is still at it)."""
    from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

    @retry(
        retry=retry_if_result(lambda found: found is None),
        stop=stop_after_delay(60),
        wait=wait_fixed(0.2),
        retry_error_callback=lambda state: None,
    )
    def recorded():
        return study.user_attrs.get(PARENT_RUN)

    run_id = study.user_attrs.get(PARENT_RUN) if created else recorded()
    params = {
        **{f"space.{k}": v for k, v in plan.space.describe().items()},
        "sweep.sampler": plan.sampler,
        "sweep.pruner": plan.pruner,
        "sweep.objective": ",".join(plan.objectives),
        "sweep.direction": ",".join(plan.directions),
        "sweep.study": plan.study,
        "sweep.seed": plan.seed,
        "sweep.storage": tracking.redact(plan.storage),
        "fixed": " ".join(plan.space.fixed),
    }
    tags = {"antelope.sweep": plan.study, "antelope.role": "sweep", "antelope.sweep.trials": str(plan.trials)}
    opened = tracking.open_parent_run(plan.experiment, plan.study, params, tags, run_id)
    if opened != run_id:
        study.set_user_attr(PARENT_RUN, opened)
    return opened


def _check_picklable(plan):
    try:
        pickle.dumps(plan)
    except Exception as error:
        raise ConfigError(
            f"sweep.workers > 1 runs trials in other processes, which cannot receive the model "
            f"or dataset object ({error}); define it in an importable module, or use "
            f"sweep.workers=1"
        ) from None
