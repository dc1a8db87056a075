"""The shared tracking server of tracking/: a real `mlflow server` (started by tracking/server.sh) on 127.0.0.1
with a PostgreSQL backend store, a real sweep recorded on it, read back through the REST API and seen in the
MLflow UI by headless Chromium (Debian's /usr/bin/chromium, driven by Playwright)."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import ML
pytestmark = pytest.mark.slow


ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Headless as root, and nothing reaching for the internet (this machine's network is closed).
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SPACE = "optim.lr=tag(log, interval(1e-4, 1e-1))"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(url, endpoint, body=None, **query):
    """One call of MLflow's REST API: POST `body` as JSON, or GET with `query`."""
    address = f"{url}/api/2.0/mlflow/{endpoint}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(address, data, {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request, timeout=30))


@pytest.fixture(scope="module")
def server(postgres_server, tmp_path_factory):
    """tracking/server.sh on a fresh PostgreSQL database; yields its URL; stopped at the end."""
    folder = tmp_path_factory.mktemp("tracking")
    database = postgres_server.database("mlflow_server")
    port = free_port()
    env = {**os.environ, "BACKEND_STORE_URI": database, "ARTIFACTS": str(folder / "artifacts"), "PORT": str(port),
           "WORKERS": "1", "MLFLOW": str(Path(sys.executable).parent / "mlflow")}
    log = open(folder / "server.log", "w")
    process = subprocess.Popen([str(ROOT / "tracking" / "server.sh")], cwd=folder, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # MLflow's migrations of a new PostgreSQL database take a while
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            break
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, (folder / "server.log").read_text()
            time.sleep(0.5)
    yield {"url": url, "database": database, "folder": folder}
    os.killpg(process.pid, signal.SIGTERM)  # the script and the server it started, nothing else
    process.wait(timeout=60)
    log.close()


@pytest.fixture(scope="module")
def sweep(server, postgres_server, tmp_path_factory):
    """A real sweep of three trials recorded on the server (the study in PostgreSQL too), then `ml plot`."""
    cwd = tmp_path_factory.mktemp("client")
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["url"]}
    storage = postgres_server.database("optuna")
    done = subprocess.run([ML, "-m", SPACE, "sweep.trials=3", "train_steps=30", f"sweep.storage={storage}"],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    study = re.search(r"^sweep (\S+): 3 trials", done.stdout + done.stderr, re.M).group(1)
    plotted = subprocess.run([ML, "plot"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert plotted.returncode == 0, plotted.stderr
    return {"study": study, "cwd": cwd, "plots": plotted.stdout.split()}


def test_a_sweep_on_the_server_reads_back_through_the_rest_api(server, sweep):
    url = server["url"]
    experiment = rest(url, "experiments/get-by-name", experiment_name="Digits")["experiment"]
    assert experiment["artifact_location"].startswith("mlflow-artifacts:")  # proxied by the server
    found = rest(url, "runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                     "filter": "tags.`antelope.role` = 'sweep'"})["runs"]
    assert len(found) == 1
    parent = found[0]
    assert parent["info"]["run_name"] == sweep["study"] and parent["info"]["status"] == "FINISHED"
    parent_id = parent["info"]["run_id"]
    trials = rest(url, "runs/search", {"experiment_ids": [experiment["experiment_id"]],
                                      "filter": f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                      "order_by": ["attributes.start_time ASC"]})["runs"]
    assert len(trials) == 3
    values = []
    for number, trial in enumerate(trials):
        tags = {t["key"]: t["value"] for t in trial["data"]["tags"]}
        params = {p["key"]: p["value"] for p in trial["data"]["params"]}
        metrics = {m["key"]: m["value"] for m in trial["data"]["metrics"]}
        assert (tags["antelope.sweep"], tags["antelope.trial"], tags["antelope.trial_state"]) == \
               (sweep["study"], str(number), "COMPLETE")
        lr = float(params["optim.lr"])  # the swept key, as a param with its dotted name
        assert 1e-4 <= lr <= 1e-1 and params["train_steps"] == "30"
        assert trial["info"]["run_name"] == f"trial {number}: optim.lr={lr:.4g}"  # readable in the UI's table
        values.append(metrics["eval/accuracy"])
    best = rest(url, "metrics/get-history", run_id=parent_id, metric_key="sweep/best_value")["metrics"]
    assert [m["step"] for m in best] == [0, 1, 2]
    assert best[-1]["value"] == max(values)

    # ml plot drew the sweep's plots and logged them on the parent run, through the server's artifact proxy.
    listed = rest(url, "artifacts/list", run_id=parent_id, path="plots")["files"]
    assert {"plots/learning_curves.png", "plots/sweep_objective.png", "plots/sweep_params.png"} <= \
           {f["path"] for f in listed}
    assert all(int(f["file_size"]) > 10_000 for f in listed if f["path"].endswith("sweep_objective.png"))
    assert list((server["folder"] / "artifacts").rglob("sweep_objective.png"))  # in the artifact root

    # The backend store really is the PostgreSQL database.
    import psycopg

    with psycopg.connect(server["database"].replace("postgresql+psycopg", "postgresql")) as connection:
        assert connection.execute("SELECT count(*) FROM runs").fetchone()[0] == 4


def test_antelope_runs_on_the_server(server, sweep, monkeypatch):
    from antelope.runs import runs

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    frame = runs(filter=f"tags.`antelope.sweep` = '{sweep['study']}'")
    assert frame["role"][0] == "sweep" and frame["role"][1:].isna().all()
    assert frame["trial"].tolist()[1:] == [0, 1, 2] and (frame["parent_run_id"][1:] == frame["run_id"][0]).all()


def test_a_runs_model_data_and_registered_version_on_the_server_read_back_with_mlflows_own_client(server, tmp_path,
                                                                                                 monkeypatch):
    import mlflow
    import mlflow.pytorch
    import numpy
    import torch

    from antelope import load

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    done = subprocess.run([ML, "train_steps=30", "register=server-model", "experiment=server-models"], cwd=tmp_path,
                          env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"ml: run (\w+) started", done.stderr).group(1)
    assert not any(tmp_path.rglob("MLmodel"))  # uploaded to the server's artifact store, nothing kept here
    model = mlflow.pytorch.load_model(f"runs:/{run_id}/model")
    assert isinstance(model, torch.nn.Module) and callable(model.learn)
    predicted = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(numpy.zeros((3, 1, 8, 8), "float32"))
    assert predicted.shape == (3, 10)
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    [logged] = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert logged.source_run_id == run_id and "eval/accuracy" in {m.key for m in logged.metrics}
    [version] = client.search_model_versions("name = 'server-model'")
    assert version.run_id == run_id and int(version.version) == 1
    registered = load("models:/server-model/1")
    assert all(torch.equal(a, b) for a, b in zip(registered.state_dict().values(), model.state_dict().values()))
    contexts = {t.value for d in run.inputs.dataset_inputs for t in d.tags if t.key == "mlflow.data.context"}
    assert contexts == {"train", "eval"} and "system/cpu_utilization_percentage" in run.data.metrics
    assert f"ml reproduce={run_id}" in run.data.tags["mlflow.note.content"]


def test_a_run_stopped_on_one_machine_resumes_on_another_from_its_checkpoint_on_the_server(server, tmp_path):
    """The checkpoints go to the server's artifact store (mlflow-artifacts:/), not a local folder: a resume
    from another working directory (another machine, as far as files go) finds them there."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["url"]}
    keys = [f"model={ROOT / 'tests' / 'models.py'}:SignalsItself", "train_steps=60", "save_per_steps=10",
            "log_per_steps=10", "experiment=server-resume"]
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    stopped = subprocess.run([ML, *keys], cwd=first, env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 130, stopped.stderr
    run_id = re.search(r"ml: run (\w+) started", stopped.stderr).group(1)
    assert not any(first.rglob("*.pt"))  # nothing kept locally
    listed = rest(server["url"], "artifacts/list", run_id=run_id, path="checkpoints")["files"]
    assert "checkpoints/step_000000035.pt" in {f["path"] for f in listed}

    resumed = subprocess.run([ML, f"resume={run_id}"], cwd=second, env=env, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"ml: run {run_id} resumed at step 35" in resumed.stderr and "step 60/60" in resumed.stderr
    run = rest(server["url"], "runs/get", run_id=run_id)["run"]
    assert run["info"]["status"] == "FINISHED"


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; "
                                                          f".ci/run installs it)")
def test_the_mlflow_ui_shows_the_sweep_and_its_trials(server, sweep, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    experiment = rest(server["url"], "experiments/get-by-name", experiment_name="Digits")["experiment"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(f"{server['url']}/#/experiments/{experiment['experiment_id']}/runs")
            parent = page.get_by_role("link", name=sweep["study"])
            expect(parent).to_be_visible(timeout=60_000)
            expect(page.get_by_text("trial 0: ")).to_have_count(0)  # trials are folded under their parent
            page.get_by_role("row").filter(has=parent).get_by_role("button").first.click()
            expect(page.get_by_text("4 matching runs")).to_be_visible()
            for number in range(3):
                expect(page.get_by_role("link", name=re.compile(f"^trial {number}: optim.lr="))).to_be_visible()
            screenshot = os.environ.get("ANTELOPE_SCREENSHOT", str(tmp_path / "mlflow-ui.png"))
            page.screenshot(path=screenshot)
            assert os.path.getsize(screenshot) > 20_000
        finally:
            browser.close()


def test_the_compose_file_runs_mlflow_on_postgresql_published_on_localhost():
    compose = yaml.safe_load((ROOT / "tracking" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow"}
    postgres, mlflow = services["postgres"], services["mlflow"]
    assert postgres["image"].startswith("postgres:") and "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ports" not in postgres  # reachable by the MLflow service only
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert mlflow["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert mlflow["ports"] == ["${HOST:-127.0.0.1}:${PORT:-5000}:5000"]  # loopback unless HOST says otherwise
    command = mlflow["command"]
    options = dict(zip(command[2::2], command[3::2]))
    assert command[:2] == ["mlflow", "server"]
    assert options["--backend-store-uri"].startswith("postgresql+psycopg://mlflow:")
    assert options["--backend-store-uri"].endswith("@postgres:5432/mlflow")
    assert options["--artifacts-destination"] == "/artifacts" and "artifacts:/artifacts" in mlflow["volumes"]
    assert set(compose["volumes"]) == {"postgres", "artifacts"}
    accepted = subprocess.run([str(Path(sys.executable).parent / "mlflow"), "server", "--help"],
                              capture_output=True, text=True).stdout
    assert all(option in accepted for option in options)  # the installed MLflow knows every option
    dockerfile = (ROOT / "tracking" / mlflow["build"] / "Dockerfile").read_text()
    import mlflow as installed

    assert f'"mlflow=={installed.__version__.rsplit(".", 1)[0]}.*"' in dockerfile and "psycopg" in dockerfile
