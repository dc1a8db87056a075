"""`ml ui`: the MLflow UI on the test's own store, on 127.0.0.1, stopped by SIGTERM like Ctrl-C."""

import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.request

import mlflow
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


def test_ml_ui_on_a_busy_port_or_an_unreachable_tracking_server(monkeypatch):
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
    done = run_ml("ui")  # nothing listens there
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "ml: error: cannot reach the MLflow tracking server MLFLOW_TRACKING_URI=http://127.0.0.1:5999 "
        "([Errno 111] Connection refused); start it or unset MLFLOW_TRACKING_URI to use ./mlflow.db"
    )


CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
)
def test_the_address_ml_ui_prints_opens_the_training_runs_with_the_sweep_and_its_pruned_trial(tmp_path):
    """What a researcher sees: a console sweep with a hopeless learning rate (so some trial is pruned), `ml ui`, and
    the address it prints, opened in Chromium: the experiment's training runs (not MLflow 3's GenAI overview), the
    sweep's parent run with its trials folded under it, a pruned trial named so, and the console as their source."""
    from playwright.sync_api import expect, sync_playwright
    from test_tracking_server import CHROMIUM_FLAGS

    sweep = run_ml(
        "-m", "optim.lr=choice(1e-6, 3e-2)", "sweep.sampler=random", "sweep.trials=8",
        "train_steps=30", "evaluate_per_steps=10", "log_per_steps=10",
    )  # fmt: skip
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    pruned = re.findall(r"ml: trial (\d+) pruned at step (\d+)", sweep.stderr)
    assert pruned, sweep.stderr[-3000:]
    see = re.findall(r"ml: see it with: ml ui, then (\S+)", sweep.stderr)
    assert len(see) == 1, sweep.stderr[-3000:]  # said once for the sweep, not for every trial
    [parent] = mlflow.search_runs(
        search_all_experiments=True, filter_string="tags.`antelope.role` = 'sweep'", output_format="list"
    )
    port = free_port()
    ui = subprocess.Popen([ML, "ui", "--port", str(port)], stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    try:
        for line in ui.stderr:
            if line.startswith("ml: MLflow UI at"):
                break
        address = re.search(r"the runs of the newest experiment: (\S+);", line).group(1)
        assert address == see[0].replace(":5000/", f":{port}/")  # the same page the sweep pointed to
        assert address.endswith(f"/#/experiments/{parent.info.experiment_id}/runs?workflowType=machine_learning")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 900})
                page.goto(address)
                sweep_link = page.get_by_role("link", name=parent.info.run_name)
                expect(sweep_link).to_be_visible(timeout=60_000)
                expect(page.get_by_role("link", name=re.compile(r"^trial \d+"))).to_have_count(0)  # folded
                page.get_by_role("row").filter(has=sweep_link).get_by_role("button").first.click()
                number, step = pruned[0]
                trial = page.get_by_role("link", name=re.compile(rf"^trial {number} \(pruned at step {step}\)"))
                expect(trial).to_be_visible()
                expect(page.get_by_role("gridcell", name="ml", exact=True).first).to_be_visible()  # the Source column
                screenshot = os.environ.get("ANTELOPE_SCREENSHOT", str(tmp_path / "ml-ui.png"))
                page.screenshot(path=screenshot)
                assert os.path.getsize(screenshot) > 20_000
            finally:
                browser.close()
    finally:
        ui.send_signal(signal.SIGTERM)
        assert ui.wait(timeout=60) == 0
