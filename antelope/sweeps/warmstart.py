"""A sweep that starts from what is known: chosen configs run first, and earlier results as completed trials.

    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' 'optim=choice(SGD, Adam)' sweep.enqueue=first.yaml
    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' sweep.warm_start=Digits   # an experiment, or a study

`sweep.enqueue=` names a YAML file of configs, a list of {key: value} over the sweep's keys (a key left out
is drawn as usual): they are the sweep's first trials (Optuna's `enqueue_trial`; the same config is not
queued twice when the sweep is run again). `sweep.warm_start=` names an MLflow experiment, whose finished
runs, or an Optuna study in the sweep's storage, whose complete trials, are added to a new study as
completed trials (Optuna's `add_trial`), with their values of the sweep's keys and objectives: the sampler
starts informed and does not draw them again. They do not count in `sweep.trials`. An experiment's runs are
taken only where comparable: the same model and dataset and the same value of every key the sweep does not
search (keys of bookkeeping aside: where a run records, its checkpoints, its device); the others are left out,
counted and named, as is a run that lacks a key or an objective or lies outside the space. A warm start that
finds no comparable result is bad input: nothing would start informed.
"""

import math
import os
import sys

from ..config import BOOKKEEPING_KEYS, GROUPS, START_KEYS
from ..config import overrides as lines
from ..errors import ConfigError
from ..imports import did_you_mean
from ..results import runs
from .studies import seeds_study_name

SEEDS = "the number of seeds"  # why a result judged over another number of seeds is left out
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


def warm_start(study, storage, space, source, objectives, directions, config, seeds=1):
    """Add the earlier results named by `source` (a study in `storage`, else an MLflow experiment's runs
    comparable with the sweep's config `config`, a flat {key: value}) to the new `study` as complete trials;
    returns how many were added. A sweep of several `seeds` per trial (sweep.seeds) takes only a study's trials
    judged over as many seeds: an experiment's runs are one seed each."""
    import optuna

    names = optuna.get_all_study_names(storage)
    seeds_studies = {seeds_study_name(name) for name in names}  # a sweep's seeds (sweep.seeds): not a sweep
    studies = [name for name in names if name not in seeds_studies]
    apart: dict[str, list] = {}  # {a key that differs: the runs left out for it}
    if source in studies:
        found = _from_study(optuna.load_study(study_name=source, storage=storage), objectives, directions, seeds, apart)
        candidates = list(found)
    elif seeds > 1:
        raise ConfigError(
            f"sweep.warm_start={source}: a sweep of {seeds} seeds per trial starts from the trials of an earlier "
            f"sweep of {seeds} seeds (its study's name, in the sweep's storage); an experiment's runs are one seed each"
        )
    else:
        try:
            candidates = list(_from_experiment(source, space, objectives, config, apart))
        except ConfigError as error:
            raise ConfigError(
                f"sweep.warm_start={source} names no study in the sweep's storage "
                f"({', '.join(studies) or 'none'}) and no experiment: {error}"
            ) from None
    added, incomplete = [], 0
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
            incomplete += 1
            continue
        added.append(
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
    left_out = _left_out(apart, incomplete)
    if not added:
        raise ConfigError(
            f"sweep.warm_start={source}: no earlier result to start from{left_out or ' (it has no finished run)'}; "
            f"name an experiment or study of runs like this sweep's, or drop sweep.warm_start"
        )
    for trial in added:  # only once every result is checked: a warm start with none adds nothing
        study.add_trial(trial)
    study.set_user_attr(ADDED, len(added))
    print(
        f"ml: sweep.warm_start={source}: {len(added)} earlier results added as complete trials{left_out}",
        file=sys.stderr,
    )
    return len(added)


def _left_out(apart, incomplete):
    """'; 7 runs left out as not comparable (optim._target_ differs in 5: 1a2b3c4d, ...; ...), 1 lacking a key or
    an objective or outside the space', or '' when none were."""
    parts = []
    runs_apart = {run for found in apart.values() for run in found}
    if runs_apart:
        reasons = "; ".join(
            f"{key} differs in {len(found)}: {', '.join(_short(run) for run in found[:3])}{', …' * (len(found) > 3)}"
            for key, found in sorted(apart.items(), key=lambda item: -len(item[1]))
        )
        parts.append(f"{len(runs_apart)} runs left out as not comparable ({reasons})")
    if incomplete:
        parts.append(f"{incomplete} left out lacking a key or an objective, or outside the space")
    return "; " + ", ".join(parts) if parts else ""


def _from_study(source, objectives, directions, seeds, apart):
    """(params, values, origin) of a study's complete trials; it must optimize what this sweep does. A trial
    judged over another number of seeds than `seeds` is left out (in `apart`)."""
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
        origin = trial.user_attrs.get("mlflow_run_id") or f"study {source.study_name} trial {trial.number}"
        if _seeds_of(trial) != seeds:
            apart.setdefault(SEEDS, []).append(origin)
            continue
        yield trial.params, trial.values, origin


def _seeds_of(trial):
    """Over how many seeds a trial was judged: its `seeds` (antelope.sweeps.seeds), 1 for a trial of one run, None
    when it is of several but does not say how many (a sweep from before they said)."""
    return trial.user_attrs.get("seeds", None if "seeds_std" in trial.user_attrs else 1)


def _from_experiment(name, space, objectives, config, apart):
    """(params, values, origin) of an experiment's finished runs (not sweeps' parent runs) comparable with the
    sweep's `config`: the values of the sweep's keys among their params (`optim` and `scheduler` by their class),
    and their objectives' last values. A run not comparable is added to `apart` under the first key that differs."""
    frame = runs(name, "attributes.status = 'FINISHED'")
    frame = frame[frame["role"] != "sweep"]
    for _, row in frame.iterrows():
        if _present(row["seeds"]) and row["seeds"] > 1:  # a trial's mean over its seeds, not one run
            apart.setdefault(SEEDS, []).append(row["run_id"])
            continue
        recorded = {key: row[key] for key in frame.columns if key in config or key.startswith(("optim.", "scheduler."))}
        differs = _first_difference(recorded, config, space)
        if differs is not None:
            apart.setdefault(differs, []).append(row["run_id"])
            continue
        params = {}
        for key in space.dimensions:
            value = row.get(f"{key}._target_" if key in GROUPS else key)
            if value is not None and value == value and value != "None":
                params[key] = str(value).rsplit(".", 1)[-1] if key in GROUPS else value
        yield params, [row.get(objective) for objective in objectives], row["run_id"]


def _first_difference(recorded, config, space):
    """The first key, other than the swept ones (and their options' keys) and bookkeeping, whose value the run
    recorded differs from the sweep's `config`; or an option's key the run has and the config has not (the
    run's scheduler where the sweep has none); None when the run is comparable. A key the run did not record
    did not apply to it, and one the config leaves open (None: whether to stream, the steps) the run chose as
    the sweep's trials will: neither is compared."""
    swept = tuple(space.dimensions) + tuple(f"{key}." for key in space.dimensions if key in GROUPS)
    ignored = (*BOOKKEEPING_KEYS, *START_KEYS, *(f"{key}." for key in START_KEYS))
    telling = sorted(recorded, key=lambda k: (k != "model._target_", k != "dataset", not k.endswith("._target_"), k))
    for key in telling:  # the model, the data and the classes first: the difference that says the most
        value = recorded[key]
        if key.startswith(swept) or key.startswith(ignored) or not _present(value):
            continue
        if key not in config:
            return key
        if config[key] is not None and not _same(value, config[key]):  # None: left open, the run chose (stream)
            return key
    return None


def _same(recorded, configured):
    """Whether a recorded param (parsed back into a number where it reads as one) is the configured value."""
    try:
        return math.isclose(float(recorded), float(configured), rel_tol=1e-9)
    except (TypeError, ValueError):
        return str(recorded) == str(configured)


def _present(value):
    import pandas as pd

    return not pd.isna(value) and value != "None"


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


def _short(origin):
    """A run's id cut to 8 characters, a study's trial as it is named."""
    return origin[:8] if _is_run_id(origin) else origin


def _is_run_id(text):
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
