"""antelope.plot and `ml plot`: PNGs drawn from the tracking store, checked pixel by pixel against the runs."""
import mlflow
import numpy as np
import pytest
import results
from conftest import run_ml
from matplotlib import colors
from matplotlib.image import imread

from antelope import ConfigError
from antelope.plot import plot


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
    assert paths == ["figures/Digits/lr-study/learning_curves.png", "figures/Digits/lr-study/sweep_objective.png",
                     "figures/Digits/lr-study/sweep_params.png", "figures/Digits/learning_curves.png"]
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
    assert artifacts(ids["parent"]) == ["plots/learning_curves.png", "plots/sweep_objective.png",
                                        "plots/sweep_params.png"]
    assert all(artifacts(run_id) == [] for run_id in ids["seeds"] + [ids["other"]] + ids["trials"])


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
    assert artifacts(ids["parent"]) == ["plots/learning_curves.png", "plots/sweep_objective.png",
                                        "plots/sweep_params.png"]
    for selected in ("tags.`antelope.trial` = '1'", "tags.`antelope.role` = 'sweep'"):
        paths = plot(filter=selected, log=False, folder="whole")
        assert paths == ["whole/Digits/lr-study/learning_curves.png", "whole/Digits/lr-study/sweep_objective.png",
                         "whole/Digits/lr-study/sweep_params.png"]
        trials = pixels(workdir / paths[0])
        assert all(count(trials, c) > 100 for c in ("C0", "C1", "C2")) and count(trials, "C3") == 0


@pytest.mark.slow
def test_ml_plot_writes_pngs_and_rejects_unknown_metrics(ids, workdir):
    done = run_ml("plot", "Digits", "--no-log", "--out", "out")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["out/Digits/lr-study/learning_curves.png", "out/Digits/lr-study/sweep_objective.png",
                                   "out/Digits/lr-study/sweep_params.png", "out/Digits/learning_curves.png"]
    assert artifacts(ids["parent"]) == ["plots/sweep_objective.png", "plots/sweep_params.png"]  # the sweep's own

    bad = run_ml("plot", "--metric", "eval/acuracy")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip() == ("ml: error: metric 'eval/acuracy' was not logged by these runs (did you mean "
                                  "'eval/accuracy'?); they logged: eval/accuracy, train/accuracy, train/epoch, "
                                  "train/loss, train/lr")


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
