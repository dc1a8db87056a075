"""A tracking store with runs to look at, built once per test session and copied into each test that uses it.

Experiment 'Digits': optim.lr=1e-3 with seeds 0, 1, 2 and optim.lr=1e-2 with seed 0 (so two configurations,
one of them over three seeds), and a sweep in antelope.sweep's layout: a parent run (tags antelope.sweep,
antelope.role=sweep; params space.*, sweep.objective, sweep.direction; metric sweep/best_value by trial)
with three trials as child runs (mlflow.parentRunId, antelope.trial, antelope.trial_state).
"""
import os
import shutil
import tempfile

FAST = ["dataset=Digits", "train_steps=40", "evaluate_per_steps=20", "log_per_steps=10"]
STUDY = "lr-study"
TRIAL_LRS = [3e-3, 1e-2, 3e-2]
_built = {}


def store(template, destination):
    """Copy the built store (mlflow.db and the artifacts in mlruns/) into `destination`; returns the run ids."""
    import sqlite3

    if "folder" not in _built:
        _built["folder"] = _build(template)
    folder, destination = _built["folder"], str(destination)
    shutil.copy(os.path.join(folder, "mlflow.db"), os.path.join(destination, "mlflow.db"))
    shutil.copytree(os.path.join(folder, "mlruns"), os.path.join(destination, "mlruns"), dirs_exist_ok=True)
    with sqlite3.connect(os.path.join(destination, "mlflow.db")) as db:  # artifact locations are absolute paths
        db.execute("UPDATE runs SET artifact_uri = replace(artifact_uri, ?, ?)", (folder, destination))
        db.execute("UPDATE experiments SET artifact_location = replace(artifact_location, ?, ?)", (folder, destination))
    # MLflow caches each run's artifact location by run id in the process; these run ids live in every copy.
    from mlflow.tracking._tracking_service import utils

    utils._artifact_repos_cache.clear()
    return _built["ids"]


def _build(template):
    import pytest

    folder = tempfile.mkdtemp(prefix="antelope-results-")
    shutil.copy(template, os.path.join(folder, "mlflow.db"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
        _built["ids"] = populate()
    return folder


def populate(trial_steps=40):
    """The runs above, on MLflow's current tracking URI; returns {'seeds': [...], 'other': id,
    'parent': id, 'trials': [...]}."""
    from mlflow.entities import Metric, Param

    from antelope import config, ml, tracking
    from antelope.ml import run

    ids = {"seeds": [ml(*FAST, "optim.lr=1e-3", f"seed={seed}").run_id for seed in (0, 1, 2)],
           "other": ml(*FAST, "optim.lr=1e-2").run_id}
    client = tracking.client()
    experiment_id = tracking.experiment_id_of(client, "Digits")
    parent = client.create_run(experiment_id, run_name=STUDY,
                               tags={"antelope.sweep": STUDY, "antelope.role": "sweep"}).info.run_id
    client.log_batch(parent, params=[Param("space.optim.lr", "tag(log, interval(1e-4, 1e-1))"),
                                     Param("sweep.objective", "eval/accuracy"), Param("sweep.direction", "maximize")])
    ids["parent"], ids["trials"], best = parent, [], None
    for number, lr in enumerate(TRIAL_LRS):
        overrides, objects = config.overrides_from_python(
            ["dataset=Digits", f"train_steps={trial_steps}", "evaluate_per_steps=20", "log_per_steps=10",
             f"optim.lr={lr}"], {})
        cfg, explicit = config.compose(overrides)
        result = run(cfg, overrides, objects, explicit, parent_run_id=parent,
                     run_name=f"trial {number}: optim.lr={lr}", tags={"antelope.sweep": STUDY, "antelope.trial": str(number)})
        client.set_tag(result.run_id, "antelope.trial_state", "COMPLETE")
        value = result.metrics["eval/accuracy"]
        best = value if best is None else max(best, value)
        client.log_batch(parent, metrics=[Metric("sweep/best_value", best, 0, number)])
        ids["trials"].append(result.run_id)
    client.set_terminated(parent, "FINISHED")
    return ids
