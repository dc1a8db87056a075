"""The shared tracking server of tracking/: a real `mlflow server` (started by tracking/server.sh) on 127.0.0.1
with a PostgreSQL backend store, a real sweep recorded on it, read back through the REST API and seen in the
MLflow UI by headless Chromium (Debian's /usr/bin/chromium, driven by Playwright); and the same script opened
to the network, where it asks for a login (MLflow's basic-auth app) and `ml` gives one."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import ML

pytestmark = pytest.mark.slow


ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# Headless as root, and nothing reaching for the internet (this machine's network is closed).
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SPACE = "optim.lr=tag(log, interval(1e-4, 1e-1))"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(url, endpoint, body=None, login=None, version="2.0", **query):
    """One call of MLflow's REST API: POST `body` as JSON, or GET with `query`; as `login` ('user:password')."""
    address = f"{url}/api/{version}/mlflow/{endpoint}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if login is not None:
        import base64

        headers["Authorization"] = "Basic " + base64.b64encode(login.encode()).decode()
    request = urllib.request.Request(address, data, headers)
    return json.load(urllib.request.urlopen(request, timeout=30))


def wait_until_up(url, process, log, seconds=180):
    """Polls the server's /health until it answers; fails with its log if it exits or the deadline passes."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2).close()
            return
        except OSError:
            assert process.poll() is None and time.monotonic() < deadline, Path(log).read_text()
            time.sleep(0.5)


@pytest.fixture(scope="module")
def server(postgres_server, tmp_path_factory):
    """tracking/server.sh on a fresh PostgreSQL database; yields its URL; stopped at the end."""
    folder = tmp_path_factory.mktemp("tracking")
    database = postgres_server.database("mlflow_server")
    port = free_port()
    env = clean_env(
        BACKEND_STORE_URI=database,
        ARTIFACTS=str(folder / "artifacts"),
        PORT=str(port),
        WORKERS="1",
        MLFLOW=str(Path(sys.executable).parent / "mlflow"),
    )  # no login: on 127.0.0.1, for this machine
    log = open(folder / "server.log", "w")
    process = subprocess.Popen(
        [str(ROOT / "tracking" / "server.sh")],
        cwd=folder,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, process, folder / "server.log")  # MLflow's migrations of a new PostgreSQL database take a while
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
    done = subprocess.run(
        [ML, "-m", SPACE, "sweep.trials=3", "train_steps=30", f"sweep.storage={storage}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    study = re.search(r"^sweep (\S+): 3 trials", done.stdout + done.stderr, re.M).group(1)
    plotted = subprocess.run([ML, "plot"], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert plotted.returncode == 0, plotted.stderr
    return {"study": study, "cwd": cwd, "plots": plotted.stdout.split()}


def test_a_sweep_on_the_server_reads_back_through_the_rest_api(server, sweep):
    url = server["url"]
    experiment = rest(url, "experiments/get-by-name", experiment_name="Digits")["experiment"]
    assert experiment["artifact_location"].startswith("mlflow-artifacts:")  # proxied by the server
    found = rest(
        url,
        "runs/search",
        {"experiment_ids": [experiment["experiment_id"]], "filter": "tags.`antelope.role` = 'sweep'"},
    )["runs"]
    assert len(found) == 1
    parent = found[0]
    assert parent["info"]["run_name"] == sweep["study"] and parent["info"]["status"] == "FINISHED"
    parent_id = parent["info"]["run_id"]
    trials = rest(
        url,
        "runs/search",
        {
            "experiment_ids": [experiment["experiment_id"]],
            "filter": f"tags.`mlflow.parentRunId` = '{parent_id}'",
            "order_by": ["attributes.start_time ASC"],
        },
    )["runs"]
    assert len(trials) == 3
    values = []
    for number, trial in enumerate(trials):
        tags = {t["key"]: t["value"] for t in trial["data"]["tags"]}
        params = {p["key"]: p["value"] for p in trial["data"]["params"]}
        metrics = {m["key"]: m["value"] for m in trial["data"]["metrics"]}
        assert (tags["antelope.sweep"], tags["antelope.trial"], tags["antelope.trial_state"]) == (
            sweep["study"],
            str(number),
            "COMPLETE",
        )
        lr = float(params["optim.lr"])  # the swept key, as a param with its dotted name
        assert 1e-4 <= lr <= 1e-1 and params["train_steps"] == "30"
        assert trial["info"]["run_name"] == f"trial {number}: optim.lr={lr:.4g}"  # readable in the UI's table
        values.append(metrics["eval/accuracy"])
    best = rest(url, "metrics/get-history", run_id=parent_id, metric_key="sweep/best_value")["metrics"]
    assert [m["step"] for m in best] == [0, 1, 2]
    assert best[-1]["value"] == max(values)

    # ml plot drew the sweep's plots and logged them on the parent run, through the server's artifact proxy.
    listed = rest(url, "artifacts/list", run_id=parent_id, path="plots")["files"]
    assert {"plots/learning_curves.png", "plots/sweep_objective.png", "plots/sweep_params.png"} <= {
        f["path"] for f in listed
    }
    assert all(int(f["file_size"]) > 10_000 for f in listed if f["path"].endswith("sweep_objective.png"))
    assert list((server["folder"] / "artifacts").rglob("sweep_objective.png"))  # in the artifact root

    # The backend store really is the PostgreSQL database.
    import psycopg

    with psycopg.connect(server["database"].replace("postgresql+psycopg", "postgresql")) as connection:
        assert connection.execute("SELECT count(*) FROM runs").fetchone()[0] == 4


def test_antelope_runs_on_the_server(server, sweep, monkeypatch):
    from antelope.results.table import runs

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    frame = runs(filter=f"tags.`antelope.sweep` = '{sweep['study']}'")
    assert frame["role"][0] == "sweep" and frame["role"][1:].isna().all()
    assert frame["trial"].tolist()[1:] == [0, 1, 2] and (frame["parent_run_id"][1:] == frame["run_id"][0]).all()


def test_ml_ui_on_a_server_points_at_its_own_page_of_an_experiments_runs(server, sweep):
    experiment = rest(server["url"], "experiments/get-by-name", experiment_name="Digits")["experiment"]
    done = ml(sweep["cwd"], "ui", "Digits", MLFLOW_TRACKING_URI=server["url"])
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == (  # the server serves the UI: nothing is started
        f"ml: the tracking server serves the UI: open {server['url']}/#/experiments/"
        f"{experiment['experiment_id']}/runs?workflowType=machine_learning"
    )


def test_a_runs_model_data_and_registered_version_on_the_server_read_back_with_mlflows_own_client(
    server, tmp_path, monkeypatch
):
    import mlflow
    import mlflow.pytorch
    import numpy
    import torch

    from antelope import load

    monkeypatch.setenv("MLFLOW_TRACKING_URI", server["url"])
    done = subprocess.run(
        [ML, "train_steps=30", "register=server-model", "experiment=server-models"],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    run_id = re.search(r"ml: run (\w+) started", done.stderr).group(1)
    assert not any(tmp_path.rglob("MLmodel"))  # uploaded to the server's artifact store, nothing kept here
    model = load(run_id)  # its own class, from the server's artifact store
    assert isinstance(model, torch.nn.Module) and callable(model.learn)
    zeros = numpy.zeros((3, 1, 8, 8), "float32")
    predicted = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(zeros)
    with torch.no_grad():  # MLflow's loader reads the exported graph: the same outputs
        assert numpy.allclose(predicted, model(torch.from_numpy(zeros)).numpy(), atol=1e-5)
        assert numpy.allclose(mlflow.pytorch.load_model(f"runs:/{run_id}/model")(torch.from_numpy(zeros)), predicted)
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    [logged] = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    assert logged.name == "model" and logged.source_run_id == run_id  # its one evaluation's model, kept
    stored = (server["folder"] / "artifacts" / run.info.experiment_id).rglob("MLmodel")
    assert len(list(stored)) == 1  # the evaluation's own copy deleted from the server's store, files and all
    assert "eval/accuracy" in {m.key for m in logged.metrics} and logged.tags["antelope.format"] == "pt2"
    [version] = client.search_model_versions("name = 'server-model'")
    assert version.run_id == run_id and int(version.version) == 1
    registered = load("models:/server-model/1")
    assert all(
        torch.equal(a, b) for a, b in zip(registered.state_dict().values(), model.state_dict().values(), strict=True)
    )
    contexts = {t.value for d in run.inputs.dataset_inputs for t in d.tags if t.key == "mlflow.data.context"}
    assert contexts == {"train", "eval"} and "system/cpu_utilization_percentage" in run.data.metrics
    assert f"ml reproduce={run_id}" in run.data.tags["mlflow.note.content"]


def test_a_run_stopped_on_one_machine_resumes_on_another_from_its_checkpoint_on_the_server(server, tmp_path):
    """The checkpoints go to the server's artifact store (mlflow-artifacts:/), not a local folder: a resume
    from another working directory (another machine, as far as files go) finds them there."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": server["url"]}
    keys = [
        f"model={ROOT / 'tests' / 'models.py'}:SignalsItself",
        "train_steps=60",
        "save_per_steps=10",
        "log_per_steps=10",
        "experiment=server-resume",
    ]
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    stopped = subprocess.run([ML, *keys], cwd=first, env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 130, stopped.stderr
    run_id = re.search(r"ml: run (\w+) started", stopped.stderr).group(1)
    assert not any(first.rglob("*.pt"))  # nothing kept locally
    listed = rest(server["url"], "artifacts/list", run_id=run_id, path="checkpoints")["files"]
    assert {f["path"] for f in listed} == {"checkpoints/step_000000030.pt", "checkpoints/step_000000035.pt"}

    resumed = subprocess.run([ML, f"resume={run_id}"], cwd=second, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"ml: run {run_id} resumed at step 35" in resumed.stderr and "step 60/60" in resumed.stderr
    run = rest(server["url"], "runs/get", run_id=run_id)["run"]
    assert run["info"]["status"] == "FINISHED"


@pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
)
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


# --- opened to the network: a login -------------------------------------------------------------------------

ADMIN_PASSWORD, ALICE_PASSWORD = f"admin-{uuid.uuid4().hex}", f"alice-{uuid.uuid4().hex}"  # found nowhere else
MLFLOW_LOGIN = (
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    "MLFLOW_AUTH_ADMIN_USERNAME",
    "MLFLOW_AUTH_CONFIG_PATH",
    "MLFLOW_FLASK_SERVER_SECRET_KEY",
)


def clean_env(**settings):
    """This process's environment without any login of the machine's, plus `settings`."""
    return {**{k: v for k, v in os.environ.items() if k not in MLFLOW_LOGIN}, **settings}


def ml(cwd, *args, **env):
    return subprocess.run([ML, *args], cwd=cwd, env=clean_env(**env), capture_output=True, text=True, timeout=600)


@contextlib.contextmanager
def login_server(migrated_store, folder, host):
    """tracking/server.sh bound to `host` with an admin password, on a copy of a migrated SQLite store in `folder`
    (the login does not depend on the store); yields its port once /health answers (on any address), and stops the
    server and its workers at the end."""
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth] (Flask-WTF)")
    import shutil

    shutil.copy(migrated_store, folder / "mlflow.db")
    port = free_port()
    env = clean_env(
        HOST=host,
        PORT=str(port),
        DATA=str(folder / "data"),
        WORKERS="1",
        BACKEND_STORE_URI=f"sqlite:///{folder / 'mlflow.db'}",
        MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD,
        MLFLOW=str(Path(sys.executable).parent / "mlflow"),
    )
    with open(folder / "server.log", "w") as log:
        process = subprocess.Popen(
            [str(ROOT / "tracking" / "server.sh")],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}" if host == "0.0.0.0" else f"http://{host}:{port}", process,
                      folder / "server.log")  # fmt: skip
        yield port
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server and its workers, nothing else
        process.wait(timeout=60)


@pytest.fixture(scope="module")
def team_server(migrated_store, tmp_path_factory):
    """tracking/server.sh opened to the network (HOST=0.0.0.0) with an admin password, on a copy of a migrated
    SQLite store (the login does not depend on the store); the admin has created the user alice. Yields its URL."""
    folder = tmp_path_factory.mktemp("team")
    with login_server(migrated_store, folder, "0.0.0.0") as port:
        url = f"http://127.0.0.1:{port}"
        rest(url, "users/create", {"username": "alice", "password": ALICE_PASSWORD}, login=f"admin:{ADMIN_PASSWORD}")
        yield {"url": url, "folder": folder}
    assert ADMIN_PASSWORD not in (folder / "server.log").read_text()


def test_the_team_server_answers_nothing_but_its_health_without_a_login(team_server):
    url = team_server["url"]
    urllib.request.urlopen(f"{url}/health", timeout=10).close()  # for load balancers and `ml`'s own probe
    for login in (None, f"alice:{ADMIN_PASSWORD}", "nobody:whatever-password"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            rest(url, "experiments/search", max_results=1, login=login)
        assert refused.value.code == 401
    assert "experiments" in rest(url, "experiments/search", max_results=1, login=f"alice:{ALICE_PASSWORD}")
    auth = team_server["folder"] / "data" / "auth"
    assert ADMIN_PASSWORD not in (auth / "basic_auth.ini").read_text()  # MLflow reads it from the environment
    assert (auth / "users.db").exists() and os.stat(auth).st_mode & 0o077 == 0  # hashed passwords, for root only


def test_ml_with_a_login_records_its_run_and_the_password_nowhere(team_server, tmp_path, monkeypatch):
    import mlflow

    url = team_server["url"]
    done = ml(
        tmp_path,
        "train_steps=20",
        "experiment=team",
        MLFLOW_TRACKING_URI=url,
        MLFLOW_TRACKING_USERNAME="alice",
        MLFLOW_TRACKING_PASSWORD=ALICE_PASSWORD,
    )
    assert done.returncode == 0, done.stderr
    # The same with the login in the URI, which MLflow's client also takes (and prints in its run links).
    in_uri = ml(
        tmp_path,
        "train_steps=20",
        "experiment=team",
        "seed=1",
        MLFLOW_TRACKING_URI=url.replace("://", f"://alice:{ALICE_PASSWORD}@"),
    )
    assert in_uri.returncode == 0, in_uri.stderr
    # A sweep's worker processes log in with the variables they inherit.
    swept = ml(
        tmp_path,
        "-m",
        SPACE,
        "sweep.trials=2",
        "sweep.workers=2",
        "train_steps=10",
        "experiment=team",
        MLFLOW_TRACKING_URI=url,
        MLFLOW_TRACKING_USERNAME="alice",
        MLFLOW_TRACKING_PASSWORD=ALICE_PASSWORD,
    )
    assert swept.returncode == 0, swept.stderr
    for output in (done, in_uri, swept):
        assert ALICE_PASSWORD not in output.stdout + output.stderr

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", ALICE_PASSWORD)
    client = mlflow.MlflowClient(url)
    runs = client.search_runs([client.get_experiment_by_name("team").experiment_id])
    assert len(runs) == 5  # two runs, a sweep's parent and its two trials
    assert {r.data.tags["antelope.worker"] for r in runs if "antelope.trial" in r.data.tags} == {"0", "1"}
    for run in runs:
        assert run.info.status == "FINISHED"
        recorded = [run.info.run_name, *run.data.params.values(), *run.data.tags.values()]
        assert not [value for value in recorded if ALICE_PASSWORD in value], run.info.run_id
        folder = client.download_artifacts(run.info.run_id, "", str(tmp_path / "artifacts" / run.info.run_id))
        for path in Path(folder).rglob("*"):  # config.yaml, the model, checkpoints, plots
            assert path.is_dir() or ALICE_PASSWORD.encode() not in path.read_bytes(), path
    trained = [r for r in runs if "antelope.sweep" not in r.data.tags]
    assert {r.data.params["seed"] for r in trained} == {"0", "1"}
    assert (
        "train_steps: 20"
        in Path(client.download_artifacts(trained[0].info.run_id, "config.yaml", str(tmp_path))).read_text()
    )


@pytest.mark.parametrize("password", [None, "not-alice-password"])
def test_ml_without_the_right_login_is_a_one_line_error_naming_the_server(team_server, tmp_path, password):
    url = team_server["url"]
    login = {"MLFLOW_TRACKING_USERNAME": "alice", "MLFLOW_TRACKING_PASSWORD": password} if password else {}
    done = ml(tmp_path, "train_steps=20", MLFLOW_TRACKING_URI=url, HOME=str(tmp_path), **login)
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.splitlines()
    said = "refused the login of user 'alice'" if password else "asks for a login"
    assert line.startswith(
        f"ml: error: the MLflow tracking server MLFLOW_TRACKING_URI={url} {said}: set "
        f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    ), line
    assert password is None or password not in line


def test_a_user_without_permission_on_an_experiment_is_told_so_in_one_line(team_server, tmp_path):
    url = team_server["url"]
    admin = f"admin:{ADMIN_PASSWORD}"
    experiment = rest(url, "experiments/create", {"name": "admins-only"}, login=admin)["experiment_id"]
    rest(
        url,
        "users/permissions/grant",
        {"username": "alice", "resource_type": "experiment", "resource_id": experiment, "permission": "DENY"},
        login=admin,
        version="3.0",
    )
    done = ml(
        tmp_path,
        "train_steps=20",
        "experiment=admins-only",
        MLFLOW_TRACKING_URI=url,
        MLFLOW_TRACKING_USERNAME="alice",
        MLFLOW_TRACKING_PASSWORD=ALICE_PASSWORD,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"ml: error: the MLflow tracking server MLFLOW_TRACKING_URI={url} does not let user 'alice' use "
        f"experiment 'admins-only'; its admin can give EDIT permission (tracking/README.md)"
    ]


def test_server_sh_opened_to_the_network_without_an_admin_password_does_not_start(tmp_path):
    done = subprocess.run(
        [str(ROOT / "tracking" / "server.sh")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=clean_env(HOST="0.0.0.0", PORT=str(free_port()), DATA=str(tmp_path / "data")),
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "tracking/server.sh: HOST=0.0.0.0 opens the server to the network: set "
        "MLFLOW_AUTH_ADMIN_PASSWORD to make it ask for a login"
    ]
    assert not (tmp_path / "data").exists()  # nothing started (no PostgreSQL), nothing written


def test_a_server_that_refuses_the_address_it_is_reached_at_is_told_apart_from_a_login(migrated_store, tmp_path):
    """MLflow's allowed-hosts check answers 403 before any login when the server binds an address other than
    localhost and ALLOWED_HOSTS leaves it out: `ml` names ALLOWED_HOSTS, not a permission the admin could give."""
    # 127.0.0.2: another address of this machine's loopback, not one MLflow allows by default
    with login_server(migrated_store, tmp_path, "127.0.0.2") as port:  # /health answers whatever the address
        url = f"http://127.0.0.2:{port}"
        done = ml(
            tmp_path, "train_steps=5",
            MLFLOW_TRACKING_URI=url, MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_PASSWORD=ADMIN_PASSWORD,
        )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"ml: error: the MLflow tracking server MLFLOW_TRACKING_URI={url} refuses requests addressed to "
        f"127.0.0.2:{port} (its allowed-hosts check, before any login): start it with ALLOWED_HOSTS=127.0.0.2:{port} "
        "(tracking/server.sh), or reach it at an address it allows"
    ]


def compose_environment(service, **shell):
    """A compose service's `environment` as Compose would pass it, given the `shell`'s variables (the
    ${NAME:-default} forms only, the ones compose.yaml uses)."""

    def value(text):
        return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: shell.get(m.group(1)) or m.group(2), str(text))

    return {key: value(text) for key, text in service["environment"].items()}


def test_the_compose_file_runs_server_sh_on_postgresql_published_on_localhost_unless_told(tmp_path):
    compose = yaml.safe_load((ROOT / "tracking" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow"}
    postgres, mlflow = services["postgres"], services["mlflow"]
    assert postgres["image"].startswith("postgres:") and "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert "ports" not in postgres  # reachable by the MLflow service only
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert mlflow["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert mlflow["ports"] == ["${HOST:-127.0.0.1}:${PORT:-5000}:5000"]  # loopback unless HOST says otherwise
    environment = mlflow["environment"]
    assert environment["BACKEND_STORE_URI"].startswith("postgresql+psycopg://mlflow:")
    assert environment["BACKEND_STORE_URI"].endswith("@postgres:5432/mlflow")
    assert (environment["HOST"], environment["PORT"]) == ("0.0.0.0", "5000")  # inside; `ports` publishes it
    assert environment["MLFLOW_AUTH_ADMIN_PASSWORD"] == "${MLFLOW_AUTH_ADMIN_PASSWORD:-}"  # the operator's, no default
    volumes = dict(v.split(":") for v in mlflow["volumes"])
    assert volumes == {"artifacts": environment["ARTIFACTS"], "auth": environment["DATA"]}
    assert set(compose["volumes"]) == {"postgres", "artifacts", "auth"}
    script = (ROOT / "tracking" / "server.sh").read_text()
    assert all(re.search(rf"\$\{{?{key}\b", script) for key in environment), "a setting server.sh does not read"
    dockerfile = (ROOT / "tracking" / mlflow["build"] / "Dockerfile").read_text()
    [command] = mlflow["command"]
    assert f"COPY server.sh /usr/local/bin/{command}" in dockerfile
    import mlflow as installed

    assert f'"mlflow[auth]=={installed.__version__.rsplit(".", 1)[0]}.*"' in dockerfile and "psycopg" in dockerfile

    # What the script in the container does with that environment (`mlflow` a stand-in that shows its arguments):
    # published on 127.0.0.1 it serves this machine as it is; published on the network, only with a login.
    stand_in = tmp_path / "mlflow"
    stand_in.write_text('#!/bin/sh\necho "$@"\n')
    stand_in.chmod(0o755)

    def start(**shell):
        env = clean_env(**compose_environment(mlflow, **shell), MLFLOW=str(stand_in))
        env["DATA"], env["ARTIFACTS"] = str(tmp_path / "data"), str(tmp_path / "artifacts")  # not / in this machine
        return subprocess.run(
            [str(ROOT / "tracking" / "server.sh")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
        )

    local = start()
    assert local.returncode == 0 and "--app-name" not in local.stdout and "--host 0.0.0.0" in local.stdout
    opened = start(HOST="0.0.0.0")
    assert opened.returncode == 2 and "MLFLOW_AUTH_ADMIN_PASSWORD" in opened.stderr and not opened.stdout
    team = start(HOST="0.0.0.0", MLFLOW_AUTH_ADMIN_PASSWORD="a-long-password", ALLOWED_HOSTS="mlflow.lab.example")
    assert team.returncode == 0 and team.stdout.startswith("server --app-name basic-auth ")
    assert "--allowed-hosts mlflow.lab.example" in team.stdout
    assert "http://0.0.0.0:5000" in team.stderr and "login required" in team.stderr
