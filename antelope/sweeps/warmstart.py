"""A sweep that starts from what is known: chosen configs run first, and earlier results as completed trials.

    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' 'optim=choice(SGD, Adam)' sweep.enqueue=first.yaml
    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' sweep.warm_start=Digits   # an experiment, or a study

`sweep.enqueue=` names a YAML file of configs, a list of {key: value} over the sweep's keys (a key left out
is drawn as usual): they are the sweep's first trials (Optuna's `enqueue_trial`; the same config is not
queued twice when the sweep is run again). `sweep.warm_start=` names an MLflow experiment, whose finished
runs, or an Optuna study in the sweep's storage, whose complete trials, are added to a new study as
completed trials (Optuna's `add_trial`), with their values of the sweep's keys and objectives: the sampler
starts informed and does not draw them again. They do not count in `sweep.trials`, and a run that lacks a
key or an objective, or lies outside the space, is left out (the count is said).
"""

import os
import sys

from ..config import GROUPS
from ..config import overrides as lines
from ..errors import ConfigError
from ..imports import did_you_mean
from ..results import runs

ADDED = "warm_start_trials"  # the study's user attribute: how many trials the warm start added (numbers 0..n-1)
SOURCE = "warm_start_from"  # an added trial's user attribute: the run or study trial it comes from


def enqueue(study, space, path, trials):
    """Queue the configs of the YAML file `path` as the study's next trials (those not queued before)."""
    import yaml

    if not os.path.isfile(path):
        raise ConfigError(
            f"sweep.enqueue={path}: no such file (a YAML list of configs, e.g. - {{optim.lr: 0.01, optim: SGD}})"
        )
    with open(path) as file:
        configs = yaml.safe_load(file) or []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise ConfigError(f"sweep.enqueue={path} must be a YAML list of mappings of the sweep's keys to values")
    if len(configs) > trials:
        raise ConfigError(f"sweep.enqueue={path} has {len(configs)} configs, more than sweep.trials={trials}")
    queued = []  # every config checked before any is queued: a bad one leaves the study as it was
    for number, given in enumerate(configs, 1):
        params = lines.flatten(given)
        for key, value in params.items():
            if key not in space.dimensions:
                raise ConfigError(
                    f"sweep.enqueue={path}: config {number} sets {key}, which the sweep does not "
                    f"search{did_you_mean(key, space.dimensions)}; its keys: "
                    f"{', '.join(space.dimensions)}"
                )
            params[key] = _typed(space.dimensions[key].distribution, value)
            if params[key] is None:
                raise ConfigError(
                    f"sweep.enqueue={path}: config {number} sets {key}={value}, outside "
                    f"{space.dimensions[key].expression}"
                )
        queued.append(params)
    for params in queued:
        study.enqueue_trial(params, skip_if_exists=True)


def warm_start(study, storage, space, source, objectives, directions):
    """Add the earlier results named by `source` (a study in `storage`, else an MLflow experiment) to the new
    `study` as complete trials; returns (added, left out)."""
    import optuna

    studies = optuna.get_all_study_names(storage)
    if source in studies:
        candidates = _from_study(optuna.load_study(study_name=source, storage=storage), objectives, directions)
    else:
        try:
            candidates = list(_from_experiment(source, space, objectives))
        except ConfigError as error:
            raise ConfigError(
                f"sweep.warm_start={source} names no study in the sweep's storage "
                f"({', '.join(studies) or 'none'}) and no experiment: {error}"
            ) from None
    added, left_out = 0, 0
    for given, values, origin in candidates:
        params = {
            key: _typed(space.dimensions[key].distribution, value)
            for key, value in given.items()
            if key in space.dimensions
        }
        if (
            not params
            or None in params.values()
            or len(params) < len(given)
            or any(v is None or v != v for v in values)
        ):
            left_out += 1
            continue
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions={k: space.dimensions[k].distribution for k in params},
                values=[float(v) for v in values],
                user_attrs={
                    SOURCE: f"run {origin}" if _is_run_id(origin) else origin,
                    **({"mlflow_run_id": origin} if _is_run_id(origin) else {}),
                },
            )
        )
        added += 1
    study.set_user_attr(ADDED, added)
    print(
        f"ml: sweep.warm_start={source}: {added} earlier results added as complete trials"
        + (f", {left_out} left out (a key or an objective missing, or outside the space)" if left_out else ""),
        file=sys.stderr,
    )
    return added, left_out


def _from_study(source, objectives, directions):
    """(params, values, origin) of a study's complete trials; it must optimize what this sweep does."""
    from optuna.trial import TrialState

    found = [d.name.lower() for d in source.directions]
    if (source.metric_names or list(objectives)) != list(objectives) or found != list(directions):
        raise ConfigError(
            f"sweep.warm_start={source.study_name}: that study optimizes "
            f"{', '.join(source.metric_names or ['its objective'])} ({', '.join(found)}), this "
            f"sweep {', '.join(objectives)} ({', '.join(directions)}); warm start from its "
            f"experiment instead, which has every metric of its runs"
        )
    for trial in source.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        yield (
            trial.params,
            trial.values,
            trial.user_attrs.get("mlflow_run_id") or f"study {source.study_name} trial {trial.number}",
        )


def _from_experiment(name, space, objectives):
    """(params, values, origin) of an experiment's finished runs (not sweeps' parent runs): the values of the
    sweep's keys among their params (`optim` and `scheduler` by their class), and their objectives' last
    values."""
    frame = runs(name, "attributes.status = 'FINISHED'")
    frame = frame[frame["role"] != "sweep"]
    for _, row in frame.iterrows():
        params = {}
        for key in space.dimensions:
            value = row.get(f"{key}._target_" if key in GROUPS else key)
            if value is not None and value == value and value != "None":
                params[key] = str(value).rsplit(".", 1)[-1] if key in GROUPS else value
        yield params, [row.get(objective) for objective in objectives], row["run_id"]


def _typed(distribution, value):
    """`value` as the distribution holds it (a choice, an int, a float), or None when outside it."""
    import optuna

    if isinstance(distribution, optuna.distributions.CategoricalDistribution):
        return next((choice for choice in distribution.choices if str(choice) == str(value)), None)
    try:
        number = int(value) if isinstance(distribution, optuna.distributions.IntDistribution) else float(value)
    except (TypeError, ValueError):
        return None
    return number if distribution.low <= number <= distribution.high else None


def _is_run_id(text):
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
