"""antelope.tracking against a real MLflow SQLite store, read back with MLflow's own client; no training."""

import os
import socket
import subprocess
import sys

import mlflow
import pytest

from antelope import tracking
from antelope.errors import ConfigError, Pruned, Stop, TakenOver
from antelope.tracking.inputs import _lost_insert_race

CONFIG = {
    "optim": {"_target_": "torch.optim.adam.Adam", "lr": 0.001},
    "seed": 0,
    "dataset_root": None,
    "augment": ["flip"],
}


def start(**kwargs):
    return tracking.Run.start("exp", CONFIG, {"antelope.model": "M"}, **kwargs)


def test_a_run_records_the_config_as_params_and_yaml_and_where_it_runs():
    with start(run_name="M lr=0.001") as run:
        pass
    recorded = mlflow.MlflowClient().get_run(run.run_id)
    assert recorded.info.status == "FINISHED" and recorded.info.run_name == "M lr=0.001"
    assert recorded.data.params == {
        "optim._target_": "torch.optim.adam.Adam",
        "optim.lr": "0.001",
        "seed": "0",
        "dataset_root": "None",
        "augment": "['flip']",
    }
    tags = recorded.data.tags
    assert tags["antelope.model"] == "M" and tags["antelope.pid"] == str(os.getpid())
    assert tags["antelope.host"] == socket.gethostname()
    yaml_path = mlflow.MlflowClient().download_artifacts(run.run_id, "config.yaml")
    assert "lr: 0.001" in open(yaml_path).read()
    experiment = mlflow.get_experiment_by_name("exp")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # opens on its runs table


def test_metrics_written_in_the_background_all_arrive_by_the_end():
    with start() as run:
        for step in range(1, 2501):
            run.log_metrics({"train/loss": 1 / step}, step)
        run.log_metrics({"eval/accuracy": 0.5}, 2500, flush=True)
    history = mlflow.MlflowClient().get_metric_history(run.run_id, "train/loss")
    assert sorted(m.step for m in history) == list(range(1, 2501))
    assert tracking.metric_history(run.run_id, "eval/accuracy") == {2500: 0.5}


@pytest.mark.parametrize(
    "raised, status",
    [
        (RuntimeError("boom"), "FAILED"),
        (KeyboardInterrupt(), "KILLED"),
        (Stop("stopped"), "KILLED"),
        (Pruned("trial 3 pruned at step 200", 200), "FINISHED"),  # did what the sweep asked: not a failure
    ],
)
def test_a_run_ends_failed_or_killed_never_running(raised, status):
    with pytest.raises(type(raised)):
        with start() as run:
            raise raised
    assert mlflow.MlflowClient().get_run(run.run_id).info.status == status
    artifacts = {a.path for a in mlflow.MlflowClient().list_artifacts(run.run_id)}
    assert ("traceback.txt" in artifacts) == (status == "FAILED")


def test_a_run_taken_over_by_another_worker_is_left_to_it():
    with pytest.raises(TakenOver):
        with start() as run:
            run.log_metrics({"train/loss": 1.0}, 1)
            raise TakenOver("another worker continues it")
    assert mlflow.MlflowClient().get_run(run.run_id).info.status == "RUNNING"
    assert tracking.metric_history(run.run_id, "train/loss") == {}  # its steps are the other worker's to write


def test_a_nested_run_names_its_parent_and_a_reopened_run_counts_its_resumes():
    parent = tracking.open_parent_run("exp", "study", {"sweep.sampler": "tpe"}, {"antelope.role": "sweep"})
    with start(parent_run_id=parent) as child:
        pass
    client = mlflow.MlflowClient()
    assert client.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent
    for count in ("1", "2"):
        with tracking.Run.reopen(child.run_id):
            assert client.get_run(child.run_id).info.status == "RUNNING"
        assert client.get_run(child.run_id).data.tags["resume_count"] == count
    assert client.get_run(child.run_id).data.params["seed"] == "0"  # params untouched
    assert tracking.open_parent_run("exp", "study", {}, {"antelope.sweep.trials": "9"}, parent) == parent
    assert client.get_run(parent).data.tags["antelope.sweep.trials"] == "9"
    assert tracking.find_run("exp", {"mlflow.parentRunId": parent}) == child.run_id
    assert tracking.find_run("exp", {"antelope.trial": "7"}) is None and tracking.find_run("nope", {"a": "b"}) is None


def test_credentials_are_masked_in_params_tags_and_names():
    assert tracking.redact("postgresql://alice:s3cret@db/x and http://h") == "postgresql://alice:***@db/x and http://h"
    with tracking.Run.start(
        "exp", {"url": "postgresql://alice:s3cret@db/x"}, {"t": "http://bob:pw@h"}, run_name="sqlite://a:b@c"
    ) as run:
        pass
    recorded = mlflow.MlflowClient().get_run(run.run_id)
    assert (
        recorded.data.params["url"] == "postgresql://alice:***@db/x" and recorded.data.tags["t"] == "http://bob:***@h"
    )
    assert "b@" not in recorded.info.run_name


def test_local_folders():
    assert tracking.local_folder("file:///x/y") == "/x/y" and tracking.local_folder("/x/y") == "/x/y"
    assert tracking.local_folder("mlflow-artifacts:/1/2") is None and tracking.local_folder("s3://b/k") is None
    assert tracking.local_folder(None) is None


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_whose_process_died_is_resumable_from_its_checkpoints_newest_first_and_closed_as_stale_by_others():
    run = start()  # never closed: as if its process were killed
    client = mlflow.MlflowClient()
    client.set_tag(run.run_id, "antelope.pid", str(dead_pid()))
    assert tracking.resumable(run.run_id).checkpoints == []  # stopped before its first checkpoint
    assert client.get_run(run.run_id).info.status == "RUNNING"  # left as it is until a resume reopens it
    folder = os.path.join(tracking.local_folder(client.get_run(run.run_id).info.artifact_uri), "checkpoints")
    os.makedirs(folder)
    for name in ("step_000000010.pt", "step_000000020.pt", "x.partial"):
        open(os.path.join(folder, name), "w").close()
    found = tracking.resumable(run.run_id)
    assert found.checkpoints == ["checkpoints/step_000000020.pt", "checkpoints/step_000000010.pt"]
    assert tracking.artifact_file(run.run_id, found.checkpoints[0]) == os.path.join(folder, "step_000000020.pt")
    assert "lr: 0.001" in found.config_yaml and tracking.latest_run_id("exp") == run.run_id
    tracking.close_stale_runs(client.get_run(run.run_id).info.experiment_id)  # what a new run of the experiment does
    stale = client.get_run(run.run_id)
    assert stale.info.status == "FAILED" and stale.data.tags["antelope.stale"] == "process gone"


def test_a_run_in_a_live_process_cannot_be_resumed():
    live = start()
    with pytest.raises(ConfigError, match=f"run {live.run_id} is RUNNING in a live process"):
        tracking.resumable(live.run_id)
    with pytest.raises(ConfigError, match="resume='nope': no such MLflow run"):
        tracking.resumable("nope")
    with pytest.raises(ConfigError, match="load=true: experiment 'empty' has no run to continue"):
        tracking.latest_run_id("empty")


def test_the_table_of_runs_is_mlflows_with_experiment_names_and_one_line_errors():
    with start():
        pass
    table = tracking.search_runs()
    assert list(table["experiment"]) == ["exp"] and table["params.optim.lr"][0] == "0.001"
    assert tracking.search_runs("exp", "params.seed = '1'").empty
    with pytest.raises(ConfigError, match=r"unknown experiment 'epx' \(did you mean 'exp'\?\)"):
        tracking.search_runs("epx")
    with pytest.raises(ConfigError, match=r"bad filter 'metrics.eval/accuracy > 0.9'.*backquote"):
        tracking.search_runs(filter="metrics.eval/accuracy > 0.9")


def test_an_unreachable_tracking_server_is_a_one_line_error(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    with pytest.raises(
        ConfigError, match=f"cannot reach the MLflow tracking server MLFLOW_TRACKING_URI=http://127.0.0.1:{port}"
    ):
        start()


def _log_one_dataset_per_round(uri, experiment_id, rounds, barrier, queue):
    import torch

    tracking.use(uri)
    client = mlflow.MlflowClient(uri)
    data = torch.zeros(4, 3)
    run_ids = []
    try:
        for round in range(rounds):
            run_id = client.create_run(experiment_id).info.run_id
            barrier.wait(timeout=60)  # every process inserts the round's new dataset at once
            tracking.log_datasets(
                run_id, [tracking.DatasetInput("digits", "train", "digits", f"digest{round}", data, data[:, 0])]
            )
            client.set_terminated(run_id)
            run_ids.append(run_id)
    except Exception as error:
        barrier.abort()  # the others stop waiting for this one
        queue.put(f"{type(error).__name__}: {error}"[:200])
    else:
        queue.put(run_ids)


@pytest.mark.slow
def test_workers_logging_the_same_new_dataset_at_once_all_record_it():
    """Sweep workers start trials on the same data at the same moment; none of them may fail for it."""
    import multiprocessing

    uri = os.environ["MLFLOW_TRACKING_URI"]
    experiment_id = mlflow.MlflowClient(uri).create_experiment("race")
    context = multiprocessing.get_context("spawn")
    processes, rounds = 4, 8
    barrier, queue = context.Barrier(processes), context.Queue()
    workers = [
        context.Process(target=_log_one_dataset_per_round, args=(uri, experiment_id, rounds, barrier, queue))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join()
    assert [result for result in results if isinstance(result, str)] == []
    run_ids = [run_id for result in results for run_id in result]
    client = mlflow.MlflowClient(uri)
    recorded = {run_id: [i.dataset.digest for i in client.get_run(run_id).inputs.dataset_inputs] for run_id in run_ids}
    assert sorted(digest for digests in recorded.values() for digest in digests) == sorted(
        f"digest{round}" for round in range(rounds) for _ in range(processes)
    )


def test_only_a_unique_constraint_error_is_taken_for_a_lost_insert_race():
    from mlflow.exceptions import MlflowException

    assert _lost_insert_race(
        MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets.experiment_id, datasets.name")
    )
    assert _lost_insert_race(MlflowException('duplicate key value violates unique constraint "datasets_pk"'))
    assert not _lost_insert_race(MlflowException("Run 'abc' not found"))


def test_a_password_in_an_http_tracking_uri_is_masked_and_kept_out_of_the_server_probe(monkeypatch):
    assert tracking.redact("http://alice:s3cret@h:5000 https://:tok3n@h") == "http://alice:***@h:5000 https://:***@h"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://alice:s3cret@127.0.0.1:{port}")
    with pytest.raises(ConfigError) as raised:
        start()
    message = str(raised.value)
    assert f"MLFLOW_TRACKING_URI=http://alice:***@127.0.0.1:{port}" in message and "s3cret" not in message
    assert "refused" in message  # the probe went to 127.0.0.1, not to a host named 'alice:s3cret@127.0.0.1'


class _LoginServer:
    """A stand-in for an MLflow server with its basic-auth app: /health for anyone; the REST API answers 401 to
    a request without `login` (its Authorization header), 403 to creating a run, and a store with one
    experiment otherwise. Real servers are tests/test_tracking_server.py's."""

    def __init__(self, login):
        import base64
        import http.server
        import json
        import threading

        expected = "Basic " + base64.b64encode(login.encode()).decode()
        answers = {
            "/api/2.0/mlflow/experiments/search": {"experiments": []},
            "/api/2.0/mlflow/experiments/get-by-name": {
                "experiment": {"experiment_id": "1", "name": "exp", "lifecycle_stage": "active"}
            },
            "/api/2.0/mlflow/runs/search": {"runs": []},
        }

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                path = self.path.split("?")[0]
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if path == "/health":
                    status, body = 200, b"OK"
                elif self.headers.get("Authorization") != expected:
                    status, body = 401, b"You are not authenticated."
                elif path in answers:
                    status, body = 200, json.dumps(answers[path]).encode()
                else:
                    status, body = 403, b"Permission denied"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def login_server(monkeypatch):
    server = _LoginServer("alice:right-password")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "false")  # put back as it was afterwards
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", os.getcwd())  # no ~/.mlflow/credentials of the machine's
    yield server
    server.close()


def test_a_server_asking_for_a_login_is_a_one_line_error_naming_it_and_the_variables(login_server, monkeypatch):
    with pytest.raises(ConfigError) as raised:
        start()
    assert str(raised.value) == (
        f"the MLflow tracking server MLFLOW_TRACKING_URI={login_server.url} asks for a login: set "
        f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an account on it (its admin creates accounts: "
        f"tracking/README.md)"
    )
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    with pytest.raises(
        ConfigError,
        match=f"MLFLOW_TRACKING_URI={login_server.url} refused the login of user "
        f"'alice': set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD",
    ) as raised:
        start()
    assert "wrong-password" not in str(raised.value) and "\n" not in str(raised.value)


def test_a_user_without_permission_in_the_experiment_is_a_one_line_error(login_server, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", login_server.url.replace("://", "://alice:right-password@"))
    with pytest.raises(ConfigError) as raised:
        start()  # the login is right (in the URI), the run is refused
    assert str(raised.value) == (
        f"the MLflow tracking server MLFLOW_TRACKING_URI={login_server.url.replace('://', '://alice:***@')} does "
        f"not let user 'alice' record runs in experiment 'exp'; its admin can give EDIT permission "
        f"(tracking/README.md)"
    )
    # MLflow would print each finished run's link on that URI, password and all
    assert os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] == "true"
