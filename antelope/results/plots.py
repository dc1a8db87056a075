"""Plots of runs as PNG files: learning curves, and for each sweep its objective by trial and per parameter.

    ml plot                                  # every run of the tracking store, into ./plots
    ml plot Digits --metric eval/accuracy --out figures
    ml plot --filter "tags.`antelope.sweep` = 'my-study'"

    from antelope import plot
    paths = plot(experiment='Digits')

What is drawn, for the runs `antelope.runs(experiment, filter)` selects:
- learning curves, one panel per metric: one line per run, or the mean ± std of the runs that differ
  only by `seed` (one line per configuration: the model, its size and every other param; a sweep's trial of
  several seeds is drawn by its seeds' runs, as such a line), each labelled by
  what differs; the runs of each experiment outside sweeps together, and
  the trials of each sweep together; one figure per task (`learning_curves_<task>.png` where runs of
  several tasks, e.g. classification and generate, share an experiment);
- for each sweep: the objective of every trial by trial number with the best value so far, and each
  swept parameter against the objective; a sweep of several objectives also its Pareto front.
Each figure is also logged, under `plots/`, on the run it describes: a sweep's on its parent run, the
learning curves of a lone run on that run. Curves comparing several runs outside a sweep describe no
single run and stay local files. A sweep's own figures are drawn by antelope.results.sweep_plots.
"""

import argparse
import math
import os
import sys
import textwrap

from .. import tracking
from ..errors import ConfigError
from ..imports import did_you_mean
from ..metrics import METRICS, PARAMETERS, TRAIN_SECONDS
from .figures import Figure, new_figure, safe_name, save
from .sweep_plots import figures_of_sweep
from .table import of_several_seeds, param_columns, runs

# metrics not drawn unless asked for: the step axis says the epoch already, and a run's costs are one value each
HIDDEN = {"train/epoch", PARAMETERS, TRAIN_SECONDS}
KEPT = "kept/"  # the metrics of the model a run kept (keep_model): one value each, like its costs
SYSTEM = "system/"  # MLflow's system metrics (CPU, memory, GPU): drawn when asked for; the MLflow UI charts them
SEED = "seed"  # the one param that may differ between the runs averaged into one line
LINESTYLES = ["-", "--", ":", "-."]  # after the 10 colors, so the 11th line is not read as the 1st


def plot(experiment=None, filter=None, metrics=None, folder="plots", log=True):
    """Draw the learning curves and sweep plots of the selected runs as PNGs; returns their paths.

    `experiment` and `filter` select runs as in `antelope.results.table`; `metrics` names the metrics to draw
    (default: every metric the runs logged but `train/epoch`, the costs, the kept model's `kept/` ones and
    MLflow's `system/` ones); PNGs go to `folder/<experiment>/` (a
    sweep's to `folder/<experiment>/<sweep>/`). With `log`, each figure is also logged as an artifact
    on the run or sweep parent run it describes.
    """
    frame = runs(experiment, filter)
    if frame.empty:
        raise ConfigError(
            f"no runs to plot in {tracking.tracking_uri()} (experiment={experiment!r}, "
            f"filter={filter!r}); `ml runs` lists what there is"
        )
    import matplotlib.style

    with matplotlib.style.context("default"):  # the same look whatever changed matplotlib's global style
        return _draw(frame, experiment, metrics, folder, log)


def _draw(frame, experiment, metrics, folder, log):
    frame = _with_sweeps(frame, experiment)
    tasks, history = _tasks(frame), tracking.metric_history
    paths = []
    import pandas as pd

    # A trial of several seeds (sweep.seeds) is drawn in its sweep's figures, by its seeds' runs: not as a sweep
    seeded = of_several_seeds(frame)
    parents = frame[((frame["role"] == "sweep") | frame["run_id"].isin(frame["parent_run_id"])) & ~seeded]
    for _, parent in parents.iterrows():
        trials = frame[frame["parent_run_id"] == parent["run_id"]]
        seeds = frame[
            frame["parent_run_id"].isin(frame.loc[seeded, "run_id"]) & frame["parent_run_id"].isin(trials["run_id"])
        ]
        out = os.path.join(folder, safe_name(parent["experiment"]), safe_name(parent["run_name"]))
        curves = pd.concat([trials, seeds])
        figures = _learning_curves(curves, tasks, metrics, out, history) if len(trials) else []
        figures += figures_of_sweep(parent, trials, out)
        paths += save(figures, parent["run_id"] if log else None)
    alone = frame[~frame["run_id"].isin(parents["run_id"]) & frame["parent_run_id"].isna()]
    for name, group in alone.groupby("experiment", sort=False):
        owner = group["run_id"].iloc[0] if log and len(group) == 1 else None
        paths += save(_learning_curves(group, tasks, metrics, os.path.join(folder, safe_name(name)), history), owner)
    return paths


def _tasks(frame):
    """{run id: its task}, from the `antelope.task` tag each run is started with (classification,
    regression, rl, generate); runs without the tag are left out. `runs()` has no tag columns but its
    filter reads tags: one search per task."""
    experiments = list(frame["experiment"].dropna().unique())
    tasks = {}
    for task in METRICS:
        for run_id in runs(experiments, f"tags.`antelope.task` = '{task}'")["run_id"]:
            tasks[run_id] = task
    return tasks


def main(argv):
    """`ml plot [EXPERIMENT ...] [--filter EXPR] [--metric NAME ...] [--out DIR] [--no-log]`."""
    parser = argparse.ArgumentParser(prog="ml plot", description="Draw PNG plots of the runs of the tracking store.")
    parser.add_argument("experiment", nargs="*", help="experiment names (default: all)")
    parser.add_argument("--filter", help='an MLflow search filter, e.g. "metrics.`eval/accuracy` > 0.9"')
    parser.add_argument("--metric", action="append", help="a metric to draw (repeatable; default: all)")
    parser.add_argument("--out", default="plots", help="the folder for the PNGs (default: plots)")
    parser.add_argument("--no-log", action="store_true", help="do not log the plots as run artifacts")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return exit.code
    try:
        paths = plot(args.experiment or None, args.filter, args.metric, args.out, not args.no_log)
    except ConfigError as error:
        print(f"ml: error: {error}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _with_sweeps(frame, experiment):
    """The selection plus the parent runs of selected trials and every trial of those and of selected
    parent runs, and every run of a sweep that a selected run belongs to (its seeds' runs too): a sweep is
    always drawn whole, so the plots logged on its parent describe all of it."""
    import pandas as pd

    parents = set(frame["parent_run_id"].dropna()) | set(frame.loc[frame["role"] == "sweep", "run_id"])
    sweeps = set(frame["sweep"].dropna())
    if not parents and not sweeps:
        return frame
    found = [frame]
    for name in sweeps:
        found.append(runs(experiment, f"tags.`antelope.sweep` = '{name}'"))
    for parent in parents:  # MLflow's search grammar has no OR: one search per sweep
        found.append(runs(experiment, f"attributes.run_id = '{parent}'"))
        found.append(runs(experiment, f"tags.`mlflow.parentRunId` = '{parent}'"))
    found = [f for f in found if not f.empty]
    return pd.concat(found, ignore_index=True).drop_duplicates("run_id").sort_values("start_time", kind="stable")


def _learning_curves(frame, tasks, metrics, folder, history):
    """One figure per task, as runs of different tasks log different metrics: `tasks` is {run id: task},
    `history(run_id, metric)` a metric's {step: value}. Named after the task when there are several."""
    # A trial of several seeds (sweep.seeds) is the parent of its seeds' runs, which draw its mean and spread
    # themselves: its own curve (their mean) would be drawn twice. A sweep's parent stays (its best value).
    containers = frame["run_id"].isin(set(frame["parent_run_id"].dropna())) & (frame["role"] != "sweep")
    frame = frame[~containers]
    names = _metric_names(frame, metrics)
    by_task = frame["run_id"].map(lambda run_id: tasks.get(run_id, "untagged"))
    several = by_task.nunique() > 1
    figures = []
    for task, group in frame.groupby(by_task, sort=False):
        logged = [name for name in names if group[name].notna().any()]
        if not logged:
            continue
        figure = _curves_figure(group, logged, history, title=task if several else None)
        file = f"learning_curves_{safe_name(task)}.png" if several else "learning_curves.png"
        figures.append(Figure(figure, os.path.join(folder, file)))
    return figures


def _curves_figure(frame, names, history, title=None):
    """One panel per metric of `names`; one line per configuration (mean ± std over seeds) or per run."""
    import pandas as pd

    groups = _seed_groups(frame)
    labels = _labels(frame, groups)
    columns = min(len(names), 3)
    rows = math.ceil(len(names) / columns)
    figure = new_figure(5 * columns, 3.6 * rows)
    axes = figure.subplots(rows, columns, squeeze=False)
    handles: dict = {}
    for ax, name in zip(axes.flat, names, strict=False):
        for index, (key, members) in enumerate(groups.items()):
            histories = {run_id: pd.Series(curve) for run_id in members if (curve := history(run_id, name))}
            if not histories:
                continue
            style = dict(color=f"C{index % 10}", linestyle=LINESTYLES[index // 10 % len(LINESTYLES)])
            if len(histories) == 1:
                series = next(iter(histories.values()))
                (line,) = ax.plot(series.index, series.values, marker="o" if len(series) == 1 else None, **style)
            else:  # the steps every seed logged, so the band is never drawn from fewer runs than the label says
                table = pd.DataFrame(histories).dropna()
                mean, std = table.mean(axis=1), table.std(axis=1)
                (line,) = ax.plot(mean.index, mean.values, **style)
                ax.fill_between(mean.index, mean - std, mean + std, color=style["color"], alpha=0.25, linewidth=0)
            handles.setdefault(key, line)
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    if title:
        figure.suptitle(title)
    if handles:
        _legend_below(figure, list(handles.values()), [labels[key] for key in handles])
    return figure


def _legend_below(figure, handles, labels):
    """The legend under the panels, in as many columns (up to 3) as its widest label allows, labels
    wrapped to the width; the figure then grows to hold it. Constrained layout fits the panels around a
    legend but never grows the figure: a legend wider than the figure was cut off at both edges, and one
    taller than its margin squeezed the panels until the layout gave up, clipping their tick labels."""
    from matplotlib.font_manager import FontProperties

    renderer, font = figure.canvas.get_renderer(), FontProperties(size="small")  # the legend's font
    inches = {
        label: renderer.get_text_width_height_descent(label, font, ismath=False)[0] / figure.dpi for label in labels
    }
    width, height = figure.get_size_inches()
    widest = max(inches.values())
    columns = next((c for c in (3, 2) if c <= len(labels) and widest <= width / c - 0.7), 1)
    room = width / columns - 0.7  # a column's width less its line sample and the gap to the next
    wrapped = [
        textwrap.fill(label, max(10, int(len(label) * room / inches[label])), max_lines=3, placeholder=" …")
        if inches[label] > room
        else label
        for label in labels
    ]
    legend = figure.legend(handles, wrapped, loc="outside lower center", ncol=columns, fontsize="small")
    box = legend.get_window_extent(renderer)  # measured, as a line of wide letters may still be too wide
    figure.set_size_inches(max(width, box.width / figure.dpi + 0.2), height + box.height / figure.dpi)


def _metric_names(frame, metrics):
    logged = [c for c in frame.columns if "/" in c and frame[c].notna().any() and not c.startswith("sweep/")]
    if metrics:
        for name in metrics:
            if name not in logged:
                system = sum(c.startswith(SYSTEM) for c in logged)
                listed = [c for c in logged if not c.startswith(SYSTEM)] + [f"{system} {SYSTEM}..."] * bool(system)
                raise ConfigError(
                    f"metric {name!r} was not logged by these runs{did_you_mean(name, logged)}; "
                    f"they logged: {', '.join(listed) or 'nothing'}"
                )
        return list(metrics)
    names = [c for c in logged if c not in HIDDEN and not c.startswith((SYSTEM, KEPT))]
    if not names:
        raise ConfigError("these runs logged no metrics to plot; `ml runs` shows what they recorded")
    return sorted(names, key=lambda n: (not n.startswith("train/loss"), not n.startswith("eval/"), n))


def _config_columns(frame):
    """What makes a run's configuration: its model (the class, and its size, which tells apart two classes of
    one name) and every param but `seed`. Runs that differ only by seed share a band; different models never."""
    size = [PARAMETERS] if PARAMETERS in frame else []
    return ["model", *size, *(c for c in param_columns(frame) if c != SEED)]


def _seed_groups(frame):
    """{configuration: [run ids]}: runs whose configurations (`_config_columns`) are equal share a key."""
    columns = _config_columns(frame)
    groups: dict[tuple, list] = {}
    for _, row in frame.iterrows():
        key = tuple(str(row[c]) for c in columns)
        groups.setdefault(key, []).append(row["run_id"])
    return groups


def _labels(frame, groups):
    """A legend label per group: what tells the groups apart (the model by its class name, the params), else
    the run name; a group of several runs says how many and over how many distinct seeds: "mean ± std of 3
    seeds", or "mean ± std of 3 runs, 2 seeds" when seeds repeat. Every run is in the mean and band (a repeated
    seed may still differ, e.g. on a GPU), but repeats are not independent samples, so they are not counted as
    seeds."""
    columns = _config_columns(frame)
    keys = list(groups)
    varying = [i for i, c in enumerate(columns) if len({k[i] for k in keys}) > 1]
    names = frame.set_index("run_id")["run_name"]
    labels = {}
    for key, members in groups.items():
        told = [_told(columns[i], key[i]) for i in varying]
        label = " ".join(told) if varying and len(varying) <= 4 else None
        label = label or (names[members[0]] if len(members) == 1 else "")
        if len(members) > 1:
            label = f"{label} (mean ± std of {_count(frame, members)})".strip()
        labels[key] = label
    return labels


def _told(column, value):
    """How a label names one thing that differs: the model by its class, its size in parameters, a param."""
    if column == "model":
        return value.rsplit(".", 1)[-1]
    if column == PARAMETERS:
        return f"{_short(value)} parameters"
    return f"{column}={_short(value)}"


def _count(frame, members):
    """'3 seeds', '3 runs, 2 seeds' or '3 runs' (no seed param): what a group's mean is taken over."""
    seeds = frame.loc[frame["run_id"].isin(members), SEED].nunique() if SEED in frame else 0
    if seeds == len(members):
        return f"{seeds} seeds"
    return f"{len(members)} runs, {seeds} seed{'s' * (seeds != 1)}" if seeds else f"{len(members)} runs"


def _short(text):
    """'0.004430375245218269' -> '0.00443' in a label; other values as they are."""
    try:
        return f"{float(text):.4g}" if "." in text or "e" in text else text
    except ValueError:
        return text
