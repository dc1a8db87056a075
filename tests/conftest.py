"""Every test gets its own MLflow store (a copy of one migrated SQLite file) and working directory."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ML = str(Path(sys.executable).parent / "ml")  # the installed console script


@pytest.fixture(scope="session")
def migrated_store(tmp_path_factory):
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("template") / "mlflow.db"
    MlflowClient(f"sqlite:///{path}").search_experiments()  # runs MLflow's migrations once
    return path


@pytest.fixture(autouse=True)
def workdir(tmp_path, migrated_store, monkeypatch):
    """A fresh working directory and tracking store; the env points MLflow and datasets at them."""
    shutil.copy(migrated_store, tmp_path / "mlflow.db")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("ANTELOPE_DATA", str(tmp_path / "datasets"))
    return tmp_path


def runs(experiment=None):
    """All runs of the test's store as a DataFrame (through MLflow's own search API)."""
    import mlflow

    names = [experiment] if experiment else [e.name for e in mlflow.search_experiments()]
    return mlflow.search_runs(experiment_names=names, order_by=["start_time ASC"])


def run_ml(*args, timeout=300):
    """The `ml` console in a subprocess, in the test's working directory and environment."""
    return subprocess.run([ML, *args], capture_output=True, text=True, timeout=timeout, env=dict(os.environ))


@pytest.fixture(scope="session")
def postgres_server():
    from postgres import Server

    server = Server()
    yield server
    server.stop()


@pytest.fixture
def postgres(postgres_server):
    """postgres('name') -> the URL of a fresh database on a throwaway local PostgreSQL server."""
    import uuid

    return lambda name="db": postgres_server.database(f"{name}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def slurm_cluster():
    from slurm import Cluster

    cluster = Cluster()
    yield cluster
    cluster.stop()


@pytest.fixture
def slurm(slurm_cluster, monkeypatch):
    """A one-node Slurm cluster (tests/slurm.py), SLURM_CONF pointing at it; the test's jobs cancelled after."""
    monkeypatch.setenv("SLURM_CONF", slurm_cluster.conf)
    yield slurm_cluster
    slurm_cluster.cancel_all()


@pytest.fixture
def one_thread():
    """Tiny networks run fastest on one thread, above all on a shared 2-core machine."""
    from antelope.train import threads

    with threads.using(1):
        yield


@pytest.fixture
def two_threads():
    """Two torch threads, whatever the machine: a run's own choice (antelope.train.threads) can then be seen."""
    from antelope.train import threads

    with threads.using(2):
        yield
