"""antelope.results.plots and `ml plot`: PNGs drawn from the tracking store, checked pixel by pixel against the runs."""

import importlib
import re
import warnings

import mlflow
import numpy as np
import pandas as pd
import pytest
import results
from conftest import run_ml
from matplotlib import colors
from matplotlib.image import imread

from antelope import ConfigError
from antelope.results.plots import plot
from antelope.results.table import INFO


@pytest.fixture
def ids(migrated_store, workdir):
    return results.store(migrated_store, workdir)


def pixels(path):
    image = imread(path)  # (H, W, 4) floats in [0, 1]
    return np.round(image[..., :3] * 255).astype(int)


def count(image, color, tolerance=0):
    """Pixels of `color` (a matplotlib color, e.g. 'C0') in the image."""
    rgb = np.round(np.array(colors.to_rgb(color)) * 255).astype(int)
    return int((np.abs(image - rgb).max(axis=-1) <= tolerance).sum())


def band(color, alpha=0.25):
    """The color of a mean ± std band over the white background."""
    return tuple(alpha * np.array(colors.to_rgb(color)) + (1 - alpha))


def artifacts(run_id):
    return sorted(a.path for a in mlflow.MlflowClient().list_artifacts(run_id, "plots"))


def test_learning_curves_one_line_per_configuration_mean_and_std_over_seeds(ids, workdir):
    paths = plot(experiment="Digits", folder="figures")
    assert paths == [
        "figures/Digits/lr-study/learning_curves.png",
        "figures/Digits/lr-study/sweep_objective.png",
        "figures/Digits/lr-study/sweep_params.png",
        "figures/Digits/lr-study/param_importances.png",
        "figures/Digits/learning_curves.png",
    ]
    for path in paths:
        assert (workdir / path).stat().st_size > 10_000
        image = pixels(workdir / path)
        assert image.shape[0] >= 300 and image.shape[1] >= 450
        assert (image < 250).any(axis=-1).mean() > 0.02  # drawn on, not a blank page

    # Four runs outside the sweep: optim.lr=1e-3 over seeds 0, 1, 2 is one line (C0) with a band, 1e-2 another (C1).
    curves = pixels(workdir / "figures/Digits/learning_curves.png")
    assert count(curves, "C0") > 200 and count(curves, "C1") > 200
    assert count(curves, "C2") == 0  # no third line: the seeds were averaged
    # (a line's antialiased edge has a few pixels of the band's blend too: a band has thousands)
    assert count(curves, band("C0"), tolerance=2) > 5000 and count(curves, band("C1"), tolerance=2) < 500

    # The sweep's three trials: three lines, no band.
    trials = pixels(workdir / "figures/Digits/lr-study/learning_curves.png")
    assert all(count(trials, c) > 100 for c in ("C0", "C1", "C2")) and count(trials, "C3") == 0
    assert count(trials, band("C0"), tolerance=2) < 500

    # Objective by trial with the best so far (C3, a step line), one panel per swept key.
    objective = pixels(workdir / "figures/Digits/lr-study/sweep_objective.png")
    assert count(objective, "C0") > 50 and count(objective, "C3") > 50

    # Logged on what they describe: the sweep's plots on its parent run; the 4-run comparison on none.
    assert artifacts(ids["parent"]) == [
        "plots/learning_curves.png",
        "plots/param_importances.png",
        "plots/sweep_objective.png",
        "plots/sweep_params.png",
    ]
    assert all(artifacts(run_id) == [] for run_id in ids["seeds"] + [ids["other"]] + ids["trials"])


@pytest.mark.slow  # whole ml() runs drawn and logged through MLflow
def test_a_lone_run_gets_its_curves_as_an_artifact_and_metrics_can_be_chosen(ids, workdir):
    paths = plot(filter=f"attributes.run_id = '{ids['other']}'", metrics=["eval/accuracy"])
    assert paths == ["plots/Digits/learning_curves.png"]
    assert artifacts(ids["other"]) == ["plots/learning_curves.png"]
    image = pixels(workdir / paths[0])
    assert count(image, "C0") > 50 and count(image, "C1") == 0
    assert image.shape[1] == 500  # one panel: 5 inches at 100 dpi

    # A trial selected alone brings its sweep's parent, which is where the sweep's plots go; a parent
    # selected alone brings its trials: a sweep is always drawn whole.
    plot(filter="tags.`antelope.trial` = '1'", log=True, folder="trial")
    assert artifacts(ids["parent"]) == [
        "plots/learning_curves.png",
        "plots/param_importances.png",
        "plots/sweep_objective.png",
        "plots/sweep_params.png",
    ]
    for selected in ("tags.`antelope.trial` = '1'", "tags.`antelope.role` = 'sweep'"):
        paths = plot(filter=selected, log=False, folder="whole")
        assert paths == [
            "whole/Digits/lr-study/learning_curves.png",
            "whole/Digits/lr-study/sweep_objective.png",
            "whole/Digits/lr-study/sweep_params.png",
            "whole/Digits/lr-study/param_importances.png",
        ]
        trials = pixels(workdir / paths[0])
        assert all(count(trials, c) > 100 for c in ("C0", "C1", "C2")) and count(trials, "C3") == 0


@pytest.mark.slow
def test_ml_plot_writes_pngs_and_rejects_unknown_metrics(ids, workdir):
    done = run_ml("plot", "Digits", "--no-log", "--out", "out")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "out/Digits/lr-study/learning_curves.png",
        "out/Digits/lr-study/sweep_objective.png",
        "out/Digits/lr-study/sweep_params.png",
        "out/Digits/lr-study/param_importances.png",
        "out/Digits/learning_curves.png",
    ]
    assert artifacts(ids["parent"]) == [  # the sweep's own, drawn when it ended
        "plots/param_importances.png",
        "plots/sweep_objective.png",
        "plots/sweep_params.png",
    ]

    bad = run_ml("plot", "--metric", "eval/acuracy")
    assert bad.returncode == 2 and bad.stdout == ""
    assert re.fullmatch(
        r"ml: error: metric 'eval/acuracy' was not logged by these runs \(did you mean "
        r"'eval/accuracy'\?\); they logged: cost/parameters, cost/train_seconds, eval/accuracy, "
        r"kept/accuracy, train/accuracy, train/epoch, "
        r"train/loss, train/lr, \d+ system/\.\.\.",
        bad.stderr.strip(),
    ), bad.stderr  # MLflow's system
    # metrics are counted, not listed: which there are depends on the machine (a GPU adds some)


def test_nothing_to_plot_is_a_config_error():
    with pytest.raises(ConfigError, match="no runs to plot"):
        plot()


def test_plots_keep_their_look_when_matplotlib_style_was_changed(ids, workdir):
    import matplotlib
    import matplotlib.style

    with matplotlib.rc_context():
        matplotlib.style.use("ggplot")  # what Optuna's own plots do to the global style
        plot(experiment="Digits", folder="styled")
    curves = pixels(workdir / "styled/Digits/learning_curves.png")  # counted in the default colors again
    assert count(curves, "C0") > 200 and count(curves, band("C0"), tolerance=2) > 5000


# The figures themselves, drawn from frames built here (no tracking store): what a reader sees must be inside
# the saved image, and what the labels say must be true of the runs.

plotting = importlib.import_module("antelope.results.plots")
figures_module = importlib.import_module("antelope.results.figures")
sweep_plots = importlib.import_module("antelope.results.sweep_plots")


@pytest.fixture
def style():
    """The style `plot()` draws in; layout warnings (a collapsed layout clips tick labels) are errors."""
    import matplotlib.style

    with matplotlib.style.context("default"), warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        yield


def frame_of(rows):
    """A frame of runs as `antelope.results.table` returns it: its info columns, then params and final metrics."""
    return pd.DataFrame([{**dict.fromkeys(INFO), "experiment": "E", **row} for row in rows])


def history(run_id, name):
    """A curve per run and metric, different for each run: {step: value}."""
    offset = int(run_id.strip("r")) / 10
    return {step: offset + 1 / (1 + step) for step in range(0, 100, 10)}


def saved(figure, workdir, name="figure.png"):
    """Save `figure` as `plot()` does; returns the renderer it was drawn with, after checking the PNG is
    the size of `figure.bbox`, the bounds everything drawn must lie within."""
    figures_module.save([figures_module.Figure(figure, name)], None)
    image = imread(workdir / name)
    assert np.allclose(image.shape[:2], (figure.bbox.height, figure.bbox.width), atol=1)
    return figure.canvas.get_renderer()


def inside(box, figure):
    bounds = figure.bbox
    return (
        bounds.x0 - 0.5 <= box.x0
        and box.x1 <= bounds.x1 + 0.5
        and bounds.y0 - 0.5 <= box.y0
        and box.y1 <= bounds.y1 + 0.5
    )


def drawn_tick_labels(axis):
    """The labels of the major ticks inside the axis' view limits (the only ones drawn) that say something."""
    low, high = sorted(axis.get_view_interval())
    return [
        tick.label1
        for tick in axis.get_major_ticks()
        if low <= tick.get_loc() <= high and tick.label1.get_visible() and tick.label1.get_text()
    ]


def assert_everything_inside(figure, renderer):
    for legend in figure.legends + [ax.get_legend() for ax in figure.axes if ax.get_legend()]:
        assert inside(legend.get_window_extent(renderer), figure), "legend cut off"
    for ax in figure.axes:
        if not ax.get_visible():
            continue
        assert ax.bbox.height > 100 and ax.bbox.width > 150, "panels squeezed by the layout"
        assert inside(ax.get_tightbbox(renderer), figure), f"{ax.get_title()}: title or axis labels cut off"
        for label in drawn_tick_labels(ax.xaxis) + drawn_tick_labels(ax.yaxis):
            assert inside(label.get_window_extent(renderer), figure), f"tick label {label.get_text()!r} cut off"


@pytest.mark.parametrize("metrics", [["eval/accuracy"], ["train/loss", "eval/accuracy", "train/accuracy"]])
def test_a_legend_of_many_long_run_names_and_the_tick_labels_lie_inside_the_figure(metrics, style, workdir):
    # 14 runs differing in 5 params: each line is labelled by its run name, 120 characters long.
    rows = [
        {
            "run_id": f"r{i}",
            "run_name": (f"MLP run {i:02d} " + "optim.lr=0.001 model.hidden=[64,64] " * 4)[:120],
            "seed": 0,
            **{f"model.p{j}": i for j in range(5)},
            "train/loss": 0.1,
            "eval/accuracy": 0.9,
            "train/accuracy": 0.9,
        }
        for i in range(14)
    ]
    frame = frame_of(rows)
    (figure,) = [f.figure for f in plotting._learning_curves(frame, {}, metrics, "out", history)]
    renderer = saved(figure, workdir)

    (legend,) = figure.legends
    assert inside(legend.get_window_extent(renderer), figure)
    assert len(legend.get_lines()) == 14  # every run is in it, none dropped for lack of room
    shown = [text.get_text().replace("\n", " ") for text in legend.get_texts()]
    assert shown[0] == rows[0]["run_name"].strip()  # wrapped onto lines, not cut short
    assert len({line.get_color() + line.get_linestyle() for line in legend.get_lines()}) == 14  # no two alike
    assert_everything_inside(figure, renderer)
    assert figure.bbox.width == 500 * min(len(metrics), 3)  # the figure grew taller, not wider


def test_a_label_wider_than_any_wrap_still_fits(style, workdir):
    frame = frame_of([{"run_id": "r1", "run_name": "W" * 120, "train/loss": 0.1}])
    (figure,) = [f.figure for f in plotting._learning_curves(frame, {}, None, "out", history)]
    assert_everything_inside(figure, saved(figure, workdir))


LOG_SWEEPS = {
    "log-uniform over 1e-4..1e-1": [2.3e-4, 1.1e-3, 8e-3, 5e-2],
    "the whole of 1e-4..1e-1": [1e-4, 1e-3, 1e-2, 1e-1],
    "within one decade": [0.01, 0.02, 0.035, 0.05],
    "across a decade's edge": [3e-3, 1e-2, 3e-2],
    "narrower than 0.01 steps": [0.031, 0.034, 0.038],
}


@pytest.mark.parametrize("lrs", LOG_SWEEPS.values(), ids=LOG_SWEEPS)
def test_a_log_scale_sweep_axis_has_tick_labels(lrs, style, workdir):
    trials = pd.DataFrame(
        {
            "trial": range(len(lrs)),
            "trial_state": "COMPLETE",
            "optim.lr": lrs,
            "eval/accuracy": np.linspace(0.5, 0.9, len(lrs)),
        }
    )
    space = {"optim.lr": "tag(log, interval(1e-4, 1e-1))"}
    figures = sweep_plots.sweep_figures("s", "eval/accuracy", "maximize", trials, space, "out")
    for item in figures:
        assert_everything_inside(item.figure, saved(item.figure, workdir, item.path.replace("/", "_")))
    (ax,) = figures[1].figure.axes
    assert ax.get_xscale() == "log"
    labels = [label.get_text() for label in drawn_tick_labels(ax.xaxis)]
    assert len(labels) >= 2, labels
    assert all(min(lrs) * 0.99 <= float(text) <= max(lrs) * 1.01 for text in labels)  # plain numbers, where drawn
    assert not any(label.get_text() for label in ax.xaxis.get_minorticklabels())  # no crowd between them


def test_a_sweep_of_several_seeds_draws_each_trials_spread_as_an_error_bar(style, workdir):
    from matplotlib.container import ErrorbarContainer

    trials = pd.DataFrame(
        {
            "trial": [0, 1, 2],
            "trial_state": ["COMPLETE", "COMPLETE", "PRUNED"],
            "optim.lr": [0.01, 0.1, 0.001],
            "eval/accuracy": [0.8, 0.9, 0.3],
            "eval/accuracy_std": [0.05, 0.02, None],  # a pruned trial has no spread
        }
    )
    figures = sweep_plots.sweep_figures("s", "eval/accuracy", "maximize", trials, {"optim.lr": "interval"}, "out")
    for item in figures[:2]:
        [ax] = item.figure.axes
        [bars] = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        [lines] = bars.lines[2]  # the vertical segments: one per trial of several seeds
        segments = [list(segment[:, 1]) for segment in lines.get_segments()]
        assert segments == [pytest.approx([0.75, 0.85]), pytest.approx([0.88, 0.92])]
        assert_everything_inside(item.figure, saved(item.figure, workdir, item.path.replace("/", "_")))
    [ax] = figures[0].figure.axes
    assert "± std of seeds" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_a_trial_of_several_seeds_is_drawn_by_its_seeds_runs_once(style, workdir):
    frame = frame_of(
        [
            {"run_id": "r1", "run_name": "sweep", "role": "sweep", "sweep/best_value": 0.9},
            {"run_id": "r2", "run_name": "trial 0", "parent_run_id": "r1", "trial": 0, "eval/accuracy": 0.85},
            {"run_id": "r3", "run_name": "seed 0 of trial 0", "parent_run_id": "r2", "seed": 0, "eval/accuracy": 0.8},
            {"run_id": "r4", "run_name": "seed 1 of trial 0", "parent_run_id": "r2", "seed": 1, "eval/accuracy": 0.9},
        ]
    )
    tasks = {"r3": "classification", "r4": "classification"}
    figures = plotting._learning_curves(frame, tasks, ["eval/accuracy"], "out", history)
    [figure] = [f.figure for f in figures]
    [ax] = figure.axes
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["(mean ± std of 2 seeds)"]  # not trial 0's too


def test_runs_of_different_tasks_get_a_figure_each(style, workdir):
    frame = frame_of(
        [
            {"run_id": "r1", "run_name": "classifier", "seed": 0, "train/loss": 0.1, "eval/accuracy": 0.9},
            {"run_id": "r2", "run_name": "classifier 2", "seed": 1, "train/loss": 0.1, "eval/accuracy": 0.8},
            {"run_id": "r3", "run_name": "generator", "seed": 0, "train/loss": 0.2, "eval/moment_error": 0.3},
        ]
    )
    tasks = {"r1": "classification", "r2": "classification", "r3": "generate"}

    figures = plotting._learning_curves(frame, tasks, None, "out", history)
    assert [f.path for f in figures] == ["out/learning_curves_classification.png", "out/learning_curves_generate.png"]
    classification, generate = (f.figure for f in figures)
    assert [ax.get_title() for ax in classification.axes] == ["train/loss", "eval/accuracy"]
    assert [ax.get_title() for ax in generate.axes] == ["train/loss", "eval/moment_error"]
    assert classification.get_suptitle() == "classification" and generate.get_suptitle() == "generate"
    assert [t.get_text() for t in classification.legends[0].get_texts()] == ["(mean ± std of 2 seeds)"]
    assert [t.get_text() for t in generate.legends[0].get_texts()] == ["generator"]

    # A metric only one task logged draws that task's runs only; one task alone keeps the plain file name.
    figures = plotting._learning_curves(frame, tasks, ["eval/moment_error"], "out", history)
    assert [f.path for f in figures] == ["out/learning_curves_generate.png"]
    alone = plotting._learning_curves(frame[frame["run_id"] != "r3"], tasks, None, "out", history)
    assert [f.path for f in alone] == ["out/learning_curves.png"] and not alone[0].figure.get_suptitle()


@pytest.mark.slow  # whole ml() runs drawn and logged through MLflow
def test_plot_reads_each_runs_task_from_its_tag(ids, workdir):
    mlflow.MlflowClient().set_tag(ids["other"], "antelope.task", "regression")
    paths = plot(experiment="Digits", folder="tasks", log=False)
    assert paths == [
        "tasks/Digits/lr-study/learning_curves.png",
        "tasks/Digits/lr-study/sweep_objective.png",
        "tasks/Digits/lr-study/sweep_params.png",
        "tasks/Digits/lr-study/param_importances.png",
        "tasks/Digits/learning_curves_classification.png",
        "tasks/Digits/learning_curves_regression.png",
    ]
    classification = pixels(workdir / "tasks/Digits/learning_curves_classification.png")
    assert count(classification, "C0") > 200 and count(classification, "C1") == 0  # the seeds' mean alone


def test_a_seed_group_counts_its_distinct_seeds_and_averages_every_run(style, workdir):
    seeds = {"r1": 0, "r2": 0, "r3": 1, "r4": 0, "r5": 1, "r6": 2, "r7": 0}
    lrs = {"r1": 1e-3, "r2": 1e-3, "r3": 1e-3, "r4": 1e-2, "r5": 1e-2, "r6": 1e-2, "r7": 1e-1}
    frame = frame_of(
        [{"run_id": r, "run_name": r, "seed": seeds[r], "optim.lr": lrs[r], "train/loss": 0.1} for r in seeds]
    )
    (figure,) = [f.figure for f in plotting._learning_curves(frame, {}, None, "out", history)]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "optim.lr=0.001 (mean ± std of 3 runs, 2 seeds)",
        "optim.lr=0.01 (mean ± std of 3 seeds)",
        "optim.lr=0.1",
    ]
    repeated = figure.axes[0].lines[0]
    assert np.allclose(
        repeated.get_ydata(),
        [np.mean([history(r, "train/loss")[s] for r in ("r1", "r2", "r3")]) for s in repeated.get_xdata()],
    )
    assert_everything_inside(figure, saved(figure, workdir))

    twice = frame_of([{"run_id": r, "run_name": r, "seed": 0, "train/loss": 0.1} for r in ("r1", "r2")])
    unseeded = frame_of([{"run_id": r, "run_name": r, "train/loss": 0.1} for r in ("r1", "r2")])
    for runs_of, label in ((twice, "(mean ± std of 2 runs, 1 seed)"), (unseeded, "(mean ± std of 2 runs)")):
        (figure,) = [f.figure for f in plotting._learning_curves(runs_of, {}, None, "out", history)]
        assert [t.get_text() for t in figure.legends[0].get_texts()] == [label]


def test_different_models_never_share_a_band_and_are_labelled_by_class(style, workdir):
    """The README's examples: the default model and two classes named Model (one run per seed of the first),
    params otherwise equal. Each model is its own line; two classes of one name differ in size."""
    rows = [
        {"run_id": "r1", "model": "antelope.agents.ac2.AC2Agent", "cost/parameters": 9000, "seed": 0},
        {"run_id": "r2", "model": "antelope.agents.ac2.AC2Agent", "cost/parameters": 9000, "seed": 1},
        {"run_id": "r3", "model": "__main__.Model", "cost/parameters": 2410, "seed": 0},
        {"run_id": "r4", "model": "__main__.Model", "cost/parameters": 4330, "seed": 0},
    ]
    frame = frame_of([{**row, "run_name": row["run_id"], "train/loss": 0.1} for row in rows])
    (figure,) = [f.figure for f in plotting._learning_curves(frame, {}, None, "out", history)]
    assert [t.get_text() for t in figure.legends[0].get_texts()] == [
        "AC2Agent 9000 parameters (mean ± std of 2 seeds)",
        "Model 2410 parameters",
        "Model 4330 parameters",
    ]
    assert len(figure.axes[0].lines) == 3 and len(figure.axes[0].collections) == 1  # one band: AC2Agent's seeds


def test_a_sweep_over_optimizers_plots_optim_by_class_and_its_parameter_importances(style, workdir):
    parent = pd.Series(
        {
            "run_id": "p",
            "run_name": "s",
            "sweep.objective": "eval/accuracy",
            "sweep.direction": "maximize",
            "space.optim": "choice(SGD, Adam)",
            "space.optim.lr": "tag(log, interval(1e-4, 1e-1))",
            "sweep/importance/optim.lr": 0.8,
            "sweep/importance/optim": 0.2,
        }
    )
    trials = frame_of(
        [
            {
                "run_id": f"r{n}",
                "trial": n,
                "trial_state": "COMPLETE",
                "optim._target_": target,
                "optim.lr": lr,
                "eval/accuracy": value,
            }  # fmt: skip
            for n, (target, lr, value) in enumerate(
                [
                    ("torch.optim.sgd.SGD", 1e-3, 0.5),
                    ("torch.optim.adam.Adam", 1e-2, 0.9),
                    ("torch.optim.sgd.SGD", 3e-2, 0.7),
                ]
            )
        ]
    )
    figures = sweep_plots.figures_of_sweep(parent, trials, "out")
    assert [f.path for f in figures] == ["out/sweep_objective.png", "out/sweep_params.png", "out/param_importances.png"]
    params, importances = figures[1].figure, figures[2].figure
    assert [ax.get_xlabel() for ax in params.axes] == ["optim", "optim.lr"]  # as typed, not optim._target_
    assert sorted(label.get_text() for label in params.axes[0].get_xticklabels()) == ["Adam", "SGD"]
    bars = importances.axes[0]
    assert [label.get_text() for label in bars.get_yticklabels()] == ["optim", "optim.lr"]  # the most on top
    assert [round(bar.get_width(), 2) for bar in bars.patches] == [0.2, 0.8]
    assert_everything_inside(importances, saved(importances, workdir))
