"""`ml ui`: the MLflow UI on the test's own store, on 127.0.0.1, stopped by SIGTERM like Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest
from conftest import ML, run_ml

from antelope import ml

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ml_ui_serves_the_current_store_on_localhost_and_stops_with_its_server():
    result = ml(train_steps=20, evaluate_per_steps=20, log_per_steps=10)
    port = free_port()
    ui = subprocess.Popen([ML, "ui", "--port", str(port)], stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        lines = []
        for line in ui.stderr:  # MLflow's own log lines, then ours once the UI answers
            lines.append(line)
            if line.startswith("ml: MLflow UI at"):
                break
        assert lines[-1].startswith(f"ml: MLflow UI at http://127.0.0.1:{port} (store sqlite:///"), "".join(lines)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/runs/search",
            json.dumps({"experiment_ids": [result.experiment_id]}).encode(),
            {"Content-Type": "application/json"},
        )
        found = json.load(urllib.request.urlopen(request, timeout=30))["runs"]
        assert [r["info"]["run_id"] for r in found] == [result.run_id]
    finally:
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the MLflow server went with it: the port is free again
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                break
        time.sleep(0.5)
    else:
        raise AssertionError(f"the MLflow UI still answers on port {port} after `ml ui` stopped")


def test_ml_ui_on_a_busy_port_or_a_tracking_server(monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_ml("ui", "--port", str(port))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"ml: error: cannot serve the UI on 127.0.0.1:{port} (Address already in use); "
        f"give another --port, e.g. --port {port + 1}"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    done = run_ml("ui")
    assert done.returncode == 0
    assert done.stderr.strip() == "ml: the tracking server serves the UI: open http://127.0.0.1:5999"
