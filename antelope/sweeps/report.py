"""What a sweep leaves: its parent run's artifacts (trials.csv, the sweep's plots, for several objectives the
Pareto front as a table and a plot), the run closed once no trial runs anywhere, and the console's summary
(the best trials and the command that reproduces the best, or the front with a command per member).
"""

import os
import shlex
import sys
import tempfile

from .. import tracking
from ..config import overrides as lines
from ..metrics import IMPORTANCE
from ..results import draw_pareto, draw_sweep
from . import studies

FINAL_STATES = ("COMPLETE", "PRUNED", "FAIL")  # Optuna's TrialState names


def finish(study, plan):
    """The parent run's artifacts (trials.csv, the sweep's plots); FINISHED unless trials still run elsewhere or
    wait to be continued, with the best trial's model registered under `sweep.register=`."""
    from optuna.trial import TrialState

    importances = param_importances(study)
    if importances:
        for key, value in importances.items():
            tracking.log_metric(plan.parent_run_id, f"{IMPORTANCE}{key}", value, 0)
    with tempfile.TemporaryDirectory() as folder:
        _trials_frame(study).to_csv(os.path.join(folder, "trials.csv"), index=False)
        draw_sweep(
            plan.study,
            plan.objective,
            plan.direction,
            _trial_table(study, plan),
            plan.space.describe(),
            os.path.join(folder, "plots"),
            importances=importances,
        )
        if plan.multi and study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            front = pareto_front(study)
            front.to_csv(os.path.join(folder, "pareto_front.csv"), index=False)
            draw_pareto(
                plan.study,
                plan.objectives,
                plan.directions,
                _objective_table(study, front),
                os.path.join(folder, "plots"),
            )
        tracking.log_artifacts(plan.parent_run_id, folder)
    if not study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if plan.register and complete:
            run_id = model_run(study.best_trial)
            version = tracking.register_model(run_id, plan.register)
            tracking.set_tags(plan.parent_run_id, {"antelope.registered": f"{plan.register}/{version}"})
            which = "the best seed's of the best trial" if "best_seed_run_id" in study.best_trial.user_attrs else ""
            print(
                f"ml: the best trial's model (run {run_id}{', ' + which if which else ''}) is registered as "
                f"{plan.register} version {version} (models:/{plan.register}/{version})",
                file=sys.stderr,
            )
        tracking.end_run(plan.parent_run_id, "FINISHED")


def model_run(trial):
    """The run whose model stands for a trial: its own, or with sweep.seeds its best seed's."""
    return trial.user_attrs.get("best_seed_run_id") or trial.user_attrs["mlflow_run_id"]


def _trials_frame(study):
    """Optuna's table of the study's trials (trials.csv), but for surplus ones: they never ran."""
    frame = study.trials_dataframe()
    surplus = f"user_attrs_{studies.SURPLUS}"
    return frame[frame[surplus].isna()].drop(columns=surplus) if surplus in frame else frame


def _trial_table(study, plan):
    """The finished trials as `plot.sweep_figures` reads them: number, state, objective (a pruned trial's
    last reported value), drawn values, and a trial of several seeds its spread (`<objective>_std`)."""
    import pandas as pd

    rows = []
    for t in studies.counted(study.get_trials(deepcopy=False)):
        if t.state.name not in FINAL_STATES:
            continue
        value = (
            t.values[0]
            if t.values is not None
            else t.intermediate_values[max(t.intermediate_values)]
            if t.intermediate_values
            else None
        )
        row = {"trial": t.number, "trial_state": t.state.name, plan.objective: value, **t.params}
        if "seeds_std" in t.user_attrs:  # a trial of several seeds (antelope.sweeps.seeds): drawn as an error bar
            row[f"{plan.objective}_std"] = t.user_attrs["seeds_std"]
        rows.append(row)
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["trial", "trial_state", plan.objective])


def param_importances(study):
    """{swept key: importance}, most important first, by Optuna's default evaluator (fANOVA) over the complete
    trials of a study of one objective; {} where there is nothing to weigh: several objectives, fewer than two
    different values of the objective, or no key that took different values."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(study.directions) > 1 or len({t.value for t in complete}) < 2:  # one value: nothing varies to explain
        return {}
    if not any(len({repr(t.params.get(key)) for t in complete}) > 1 for key in complete[0].params):
        return {}
    # Seeded, so that the plot and the summary of one sweep give the same figures (the forest is random).
    return optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))


def pareto_front(study):
    """A study of several objectives: its Pareto front (Optuna's best_trials) as a table, one row per member
    with its objectives (the study's metric names), drawn values and run, by the first objective."""
    import pandas as pd

    names = study.metric_names or [f"objective {i}" for i in range(len(study.directions))]
    rows = [
        {
            "trial": t.number,
            **dict(zip(names, t.values, strict=True)),
            **t.params,
            "run": t.user_attrs.get("mlflow_run_id", ""),
        }
        for t in study.best_trials
    ]
    maximize = study.directions[0].name == "MAXIMIZE"
    return pd.DataFrame(rows).sort_values(names[0], ascending=not maximize)


def _objective_table(study, front):
    """Every complete trial's objectives, and whether it is on the front (what `plot.pareto_figure` draws)."""
    import pandas as pd
    from optuna.trial import TrialState

    names = study.metric_names
    on_front = set(front["trial"])
    return pd.DataFrame(
        [
            {"trial": t.number, "front": t.number in on_front, **dict(zip(names, t.values, strict=True))}
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        ]
    )


def summary(study, top=5):
    """The best trials as a table, the best params and the `ml` command that reproduces the best trial; for
    several objectives, the Pareto front with a command per member."""
    import optuna
    import pandas as pd
    from optuna.trial import TrialState

    trials = studies.counted(study.get_trials(deepcopy=False))  # a surplus trial never ran: not one of the sweep's
    counts = ", ".join(f"{sum(t.state.name == s for t in trials)} {s}" for s in FINAL_STATES)
    text = [f"sweep {study.study_name}: {len(trials)} trials ({counts})"]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        return "\n".join(text + ["no trial completed"])
    if len(study.directions) > 1:
        front = pareto_front(study)
        directions = ", ".join(
            f"{d.name.lower()} {n}" for n, d in zip(study.metric_names, study.directions, strict=True)
        )
        text += [
            f"Pareto front ({len(front)} of {len(complete)} complete trials; {directions}):",
            front.to_string(index=False),
            "reproduce a trial of the front with:",
        ]
        by_number = {t.number: t for t in complete}
        for number in front["trial"]:
            attrs = by_number[number].user_attrs
            text.append(
                f"  trial {number}: ml {shlex.join(lines.readable(line) for line in attrs['overrides'])}"
                if "overrides" in attrs
                else f"  trial {number}: an earlier result ({attrs['warm_start_from']})"
            )
        return "\n".join(text)
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    complete.sort(key=lambda t: t.value, reverse=maximize)
    seeded = any("seeds_std" in t.user_attrs for t in complete)  # sweep.seeds: the value is a mean over seeds
    table = pd.DataFrame(
        [
            {
                "trial": t.number,
                "value": t.value,
                **(
                    {
                        "std": t.user_attrs.get("seeds_std"),
                        "min": t.user_attrs.get("seeds_min"),
                        "max": t.user_attrs.get("seeds_max"),
                    }
                    if seeded
                    else {}
                ),
                **t.params,
                "run": t.user_attrs.get("mlflow_run_id", ""),
            }
            for t in complete[:top]
        ]
    )
    best = complete[0]
    run = best.user_attrs.get("best_seed_run_id") or best.user_attrs.get("mlflow_run_id")
    text += [
        f"best trials ({'highest' if maximize else 'lowest'} first):",
        table.to_string(index=False),
        f"best params: {best.params}",
    ]
    importances = param_importances(study)
    if importances:
        top = ", ".join(f"{key} {value:.2f}" for key, value in list(importances.items())[:3])
        text.append(f"most important keys (fANOVA, Optuna's default): {top}")
    if "overrides" not in best.user_attrs:  # an earlier result a warm start added (antelope.sweeps.warmstart)
        return "\n".join(
            text
            + [
                f"the best is an earlier result ({best.user_attrs.get('warm_start_from')})"
                + (f": reproduce it with ml reproduce={run}" if run else "")
            ]
        )
    text += [
        f"reproduce the best trial (run {run}) with:",
        f"  ml {shlex.join(lines.readable(line) for line in best.user_attrs['overrides'])}",
        f"  (or: ml reproduce={run})",
    ]
    return "\n".join(text)
