"""A sweep's figures: the objective of every trial with the best so far, each swept parameter against the
objective, the parameters' importances, and for several objectives the Pareto front; drawn from a sweep's study
when it ends (antelope.sweeps) or from its runs (`ml plot`). Swept keys go by the names the sweep was given:
`optim` (its class, SGD or Adam), not the `optim._target_` its trials record."""

import math
import os

from .. import tracking
from ..metrics import DIRECTIONS, IMPORTANCE
from .figures import Figure, log_ticks, new_figure, save
from .table import param_columns

SEED = "seed"  # a param that differs between runs of one configuration: never a swept key by itself
SPREAD = "_std"  # `<objective>_std` in a table of trials: the std of a trial's seeds' values (sweep.seeds)
KEPT = "kept/"  # a run's metrics of the model it kept; a trial of several seeds has their mean and spread


def figures_of_sweep(parent, trials, folder):
    """The figures of one sweep from its runs: its parent run's row, its trials' rows."""
    objectives = [name for name in str(_parent_param(parent, "sweep.objective") or "").split(",") if name]
    objective = objectives[0] if objectives else None
    if objective is None or objective not in trials.columns:
        candidates = [m for m in DIRECTIONS if m in trials.columns]
        objective = objective if not candidates else candidates[0]
    if objective is None or objective not in trials.columns:
        return []
    directions = str(_parent_param(parent, "sweep.direction") or "").split(",")
    direction = directions[0] or DIRECTIONS.get(objective, "minimize")
    trials = _by_typed_names(parent, trials)
    spread = f"{KEPT}{objective.removeprefix('eval/')}_std"  # a trial of several seeds: their spread
    if spread in trials.columns:
        trials = trials.assign(**{f"{objective}{SPREAD}": trials[spread]})
    space = {key: str(_parent_param(parent, f"space.{key}") or "") for key in _swept_keys(parent, trials)}
    importances = {
        c[len(IMPORTANCE) :]: parent[c] for c in parent.index if c.startswith(IMPORTANCE) and _present(parent[c])
    }
    importances = dict(sorted(importances.items(), key=lambda item: -item[1]))
    figures = sweep_figures(parent["run_name"], objective, direction, trials, space, folder, importances)
    if len(objectives) > 1 and len(directions) == len(objectives):
        figures += _pareto_of_runs(parent, objectives, directions, trials, folder)
    return figures


def _pareto_of_runs(parent, objectives, directions, trials, folder):
    """The Pareto front the sweep recorded (pareto_front.csv on its parent run, from Optuna's best_trials) over
    every complete trial's final objectives; nothing while the sweep has not recorded one."""
    import pandas as pd

    try:
        front = set(pd.read_csv(tracking.artifact_file(parent["run_id"], "pareto_front.csv"))["trial"])
    except (OSError, KeyError):  # no front recorded yet (no trial complete), or the file is not there
        return []
    complete = trials[(trials["trial_state"].fillna("COMPLETE") == "COMPLETE") & trials[objectives].notna().all(axis=1)]
    table = pd.DataFrame({"trial": complete["trial"].astype(int), **{name: complete[name] for name in objectives}})
    table["front"] = table["trial"].isin(front)
    return pareto_figure(parent["run_name"], objectives, directions, table, folder)


def sweep_figures(name, objective, direction, trials, space, folder, importances=None):
    """The objective of every trial by number with the best so far, each swept key against the objective, and
    the keys' `importances` ({key: importance}, most important first) when given. `trials` has a row per trial
    (columns `trial`, `trial_state`, the objective, and each key of `space`, {key: its sweep expression}; a trial
    of several seeds also its seeds' std in `<objective>_std`, drawn as an error bar); the figures go to
    `folder`. A sweep's end draws these from its study, `ml plot` from its runs."""
    from matplotlib.ticker import MaxNLocator, NullFormatter

    trials = trials.sort_values("trial")
    scored = trials[trials[objective].notna()]
    states = scored["trial_state"].fillna("COMPLETE")
    complete = scored[states == "COMPLETE"]
    figure = new_figure(6, 4)
    ax = figure.subplots()
    ax.scatter(complete["trial"], complete[objective], color="C0", label="complete", zorder=3)
    _error_bars(ax, complete["trial"], complete, objective)
    pruned = scored[states == "PRUNED"]
    if len(pruned):
        ax.scatter(pruned["trial"], pruned[objective], color="C7", marker="x", label="pruned (last value)", zorder=3)
    if len(complete):
        best = complete[objective].cummax() if direction == "maximize" else complete[objective].cummin()
        ax.step(complete["trial"], best, where="post", color="C3", label="best so far")
    ax.set(title=f"sweep {name}: {objective} ({direction})", xlabel="trial", ylabel=objective)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    figures = [Figure(figure, os.path.join(folder, "sweep_objective.png"))]
    swept = [key for key in space if key in scored.columns]
    if swept and len(scored):
        figure = new_figure(max(6, 4.5 * len(swept)), 3.8)
        axes = figure.subplots(1, len(swept), squeeze=False)
        for ax, key in zip(axes.flat, swept, strict=False):
            values = scored[key]
            numeric = values.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)).all()
            x = values if numeric else values.astype(str)
            ax.scatter(x[states == "COMPLETE"], scored[objective][states == "COMPLETE"], color="C0")
            _error_bars(ax, x[states == "COMPLETE"], scored[states == "COMPLETE"], objective)
            ax.scatter(x[states != "COMPLETE"], scored[objective][states != "COMPLETE"], color="C7", marker="x")
            drawn = values.dropna()
            positive = numeric and len(drawn) and (drawn > 0).all()
            if positive and ("log" in space[key] or drawn.max() > 100 * drawn.min()):
                ax.set_xscale("log")
                ticks = log_ticks(float(drawn.min()), float(drawn.max()))
                ax.set_xticks(ticks, [f"{tick:.3g}" for tick in ticks])
                ax.xaxis.set_minor_formatter(NullFormatter())  # labelled where set above only: no overlaps
            ax.set(xlabel=key, ylabel=objective)
            ax.grid(alpha=0.3)
        figure.suptitle(f"sweep {name}: swept parameters vs {objective}")
        figures.append(Figure(figure, os.path.join(folder, "sweep_params.png")))
    if importances:
        figures.append(importance_figure(name, objective, importances, folder))
    return figures


def _error_bars(ax, x, trials, objective):
    """± the std of each trial's seeds around its mean, for the trials of several seeds among `trials`."""
    spread = f"{objective}{SPREAD}"
    if spread not in trials.columns:
        return
    seeded = trials[spread].notna()
    if seeded.any():
        y, error = trials[objective][seeded], trials[spread][seeded]
        ax.errorbar(x[seeded], y, yerr=error, fmt="none", ecolor="C0", alpha=0.6, capsize=3, label="± std of seeds")


def importance_figure(name, objective, importances, folder):
    """Each swept key's importance for the objective, as Optuna's default evaluator (fANOVA) measures it: the
    share of the objective's variance across the trials that the key explains. The most important on top."""
    keys = list(importances)[::-1]
    figure = new_figure(6, max(3.0, 1.4 + 0.45 * len(keys)))
    ax = figure.subplots()
    ax.barh(keys, [importances[key] for key in keys], color="C0")
    for y, key in enumerate(keys):
        ax.annotate(f"{importances[key]:.2f}", (importances[key], y), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize="small")  # fmt: skip
    ax.set(title=f"sweep {name}: importance for {objective}", xlabel="importance (fANOVA, sums to 1)", xlim=(0, 1.1))
    ax.grid(alpha=0.3, axis="x")
    return Figure(figure, os.path.join(folder, "param_importances.png"))


def draw_sweep(name, objective, direction, trials, space, folder, run_id=None, importances=None):
    """`sweep_figures` saved as PNGs into `folder` (and logged under `plots/` on run `run_id`); their paths."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        return save(sweep_figures(name, objective, direction, trials, space, folder, importances), run_id)


def pareto_figure(name, objectives, directions, trials, folder):
    """A sweep of several objectives: every complete trial by its first two objectives, the Pareto front's
    members joined and labelled by trial number. `trials` has columns `trial`, `front` (bool) and each
    objective."""
    x, y = objectives[:2]
    figure = new_figure(6, 4.5)
    ax = figure.subplots()
    front = trials[trials["front"]].sort_values(x)
    others = trials[~trials["front"]]
    ax.scatter(others[x], others[y], color="C7", label="trial", zorder=3)
    ax.plot(front[x], front[y], color="C3", marker="o", label="Pareto front", zorder=4)
    for _, row in front.iterrows():
        ax.annotate(
            str(int(row["trial"])), (row[x], row[y]), textcoords="offset points", xytext=(4, 4), fontsize="small"
        )
    rest = f" (of {len(objectives)} objectives)" if len(objectives) > 2 else ""
    ax.set(title=f"sweep {name}: Pareto front{rest}", xlabel=f"{x} ({directions[0]})", ylabel=f"{y} ({directions[1]})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return [Figure(figure, os.path.join(folder, "pareto_front.png"))]


def draw_pareto(name, objectives, directions, trials, folder, run_id=None):
    """`pareto_figure` saved as a PNG into `folder` (and logged under `plots/` on run `run_id`); its path."""
    import matplotlib.style

    with matplotlib.style.context("default"):
        return save(pareto_figure(name, objectives, directions, trials, folder), run_id)


def _by_typed_names(parent, trials):
    """The trials with a column per swept config group (`optim`) holding the class each ran (`SGD`), where the
    sweep searched the group and its trials record `optim._target_`."""
    groups = [c[len("space.") :] for c in parent.index if c.startswith("space.") and _present(parent[c])]
    typed = {key: f"{key}._target_" for key in groups if key not in trials.columns and f"{key}._target_" in trials}
    if not typed:
        return trials
    return trials.assign(**{key: trials[target].str.rsplit(".", n=1).str[-1] for key, target in typed.items()})


def _swept_keys(parent, trials):
    """The keys the sweep searched: its parent's `space.<key>` params, else the trial params that vary."""
    keys = [c[len("space.") :] for c in parent.index if c.startswith("space.") and _present(parent[c])]
    keys = [k for k in keys if k in trials.columns]
    if keys:
        return keys
    return [c for c in param_columns(trials) if c != SEED and trials[c].astype(str).nunique() > 1]


def _parent_param(parent, key):
    value = parent.get(key)
    return value if _present(value) else None


def _present(value):
    return value is not None and not (isinstance(value, float) and math.isnan(value))
