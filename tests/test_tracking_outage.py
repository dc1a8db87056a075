"""A real `mlflow server` on 127.0.0.1 goes away mid-run: metrics are kept and retried, the run
finishes, and nothing is lost; if it never comes back, training still finishes and says what was
not recorded."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import mlflow.pytorch
import pytest
import requests
import torch
from conftest import ML

MODELS = Path(__file__).parent / "models.py"
pytestmark = pytest.mark.slow
MLFLOW = str(Path(sys.executable).parent / "mlflow")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, folder, port):
        self.folder, self.port, self.process = folder, port, None

    def start(self):
        self.process = subprocess.Popen(
            [
                MLFLOW,
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{self.folder}/server.db",
                "--artifacts-destination",
                str(self.folder / "artifacts"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )  # as tracking/server.sh runs it
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=5).ok:
                    return
            except requests.RequestException:  # refused while starting, or slow to answer on a busy machine
                time.sleep(0.3)
        raise AssertionError("mlflow server did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 9)
            self.process.wait(timeout=30)


@pytest.fixture
def server(workdir, monkeypatch):
    server = Server(workdir, _free_port())
    server.start()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    yield server
    server.stop()


def _train(steps):
    return subprocess.Popen(
        [
            ML,
            f"model={MODELS}:Slow",
            f"train_steps={steps}",
            "log_per_steps=20",
            "evaluate_per_steps=500",
            "save_per_steps=100000",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )


def _wait_for(process, text):
    while True:
        line = process.stderr.readline()
        assert line, "ml exited early"
        if text in line:
            return line


def test_server_goes_away_and_comes_back_nothing_is_lost(server):
    process = _train(1500)
    run_id = _wait_for(process, "started").split()[2]
    _wait_for(process, "step 300/")
    server.stop()
    told = _wait_for(process, "not answering")  # the writer met the outage and keeps the metrics
    server.start()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "not answering" in told and "buffered metrics recorded" in stderr  # the user was told both
    client = mlflow.MlflowClient()
    assert client.get_run(run_id).info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(run_id, "train/loss")]
    assert sorted(set(steps)) == list(range(20, 1501, 20))  # every write arrived
    assert [m.step for m in client.get_metric_history(run_id, "eval/accuracy")][-1] == 1500


def test_server_never_comes_back_training_finishes_and_says_what_was_lost(server, monkeypatch, workdir):
    monkeypatch.setenv("ANTELOPE_TRACKING_RETRY_SECONDS", "3")
    process = _train(500)
    run_id = _wait_for(process, "started").split()[2]
    _wait_for(process, "step 100/")
    server.stop()
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "step 500/500" in stderr  # training went on to the end
    kept = workdir / f"unrecorded-metrics-{run_id}.jsonl"
    assert kept.exists() and f"saved in {kept}" in stderr
    lines = kept.read_text().splitlines()
    assert any('"step": 500' in line for line in lines)
    model = workdir / f"unrecorded-model-{run_id}"  # an MLflow Model folder, loadable as it is
    assert f"saved in {model}" in stderr
    assert isinstance(mlflow.pytorch.load_model(str(model)), torch.nn.Module)
