"""A tracking store with runs to look at, made once per test session by `ml()` and `sweep()` themselves and
copied into each test that uses it.

Experiment 'Digits': optim.lr=1e-3 with seeds 0, 1, 2 and optim.lr=1e-2 with seed 0 (two configurations,
one of them over three seeds), and a sweep 'lr-study' of three trials over optim.lr (a grid over TRIAL_LRS):
its parent run and a child run per trial, as `sweep()` records them.
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
    _forget_artifact_locations()
    return _built["ids"]


def _forget_artifact_locations():
    """MLflow caches each run's artifact location by run id in the process, and these run ids live in every
    copy of the store: the cache is MLflow's private state, reset through its one function for that."""
    from mlflow.tracking._tracking_service import utils

    utils._artifact_repos_cache.clear()


def _build(template):
    import pytest

    folder = tempfile.mkdtemp(prefix="antelope-results-")
    shutil.copy(template, os.path.join(folder, "mlflow.db"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{folder}/mlflow.db")
        _built["ids"] = populate()
    return folder


def populate():
    """The runs above, on MLflow's current tracking URI; returns {'seeds': [...], 'other': id, 'parent': id,
    'trials': [ids by trial number], 'trial_lrs': [optim.lr by trial number]}."""
    from antelope import ml, sweep

    ids = {
        "seeds": [ml(*FAST, "optim.lr=1e-3", f"seed={seed}").run_id for seed in (0, 1, 2)],
        "other": ml(*FAST, "optim.lr=1e-2").run_id,
    }
    study = sweep(*FAST, space={"optim.lr": TRIAL_LRS}, sampler="grid", pruner="none", study=STUDY)
    trials = sorted(study.trials, key=lambda t: t.number)
    ids["trials"] = [t.user_attrs["mlflow_run_id"] for t in trials]
    ids["trial_lrs"] = [t.params["optim.lr"] for t in trials]
    ids["parent"] = study.user_attrs["mlflow_parent_run_id"]
    return ids
