"""MLflow: one `ml()` call is one MLflow run, opened and closed explicitly (never the active-run stack).

The tracking URI is MLflow's own: `MLFLOW_TRACKING_URI` when set, else MLflow's default (a `mlflow.db`
SQLite file in the working directory, so `mlflow ui` there shows the runs). Params are the resolved
config flattened to dotted keys. Metrics are buffered and written with `log_batch` by a background
writer, so training never waits on the tracking server; if the server goes away the writer keeps the
metrics and retries, and at the end whatever could not be recorded is saved to a local file and named.
Credentials in URIs are masked in everything recorded or printed.
"""
import functools
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

MAX_PARAMS_PER_BATCH = 100   # MLflow's limit per log_batch call
MAX_METRICS_PER_BATCH = 1000
MAX_PARAM_LENGTH = 6000
FLUSH_SECONDS = 10.0  # write buffered metrics at least this often (and at every evaluation)
RETRY_SECONDS = float(os.environ.get("ANTELOPE_TRACKING_RETRY_SECONDS", 60))  # at the end, before giving up
_CREDENTIALS = re.compile(r"(?<=://)([^/:@\s]+):([^/@\s]+)@")


def to_yaml(tree):
    """A resolved config (plain containers) as YAML, with LibYAML's dumper when there is one: OmegaConf's
    own `to_yaml` costs ~6 ms a call, a noticeable share of a short sweep trial."""
    import yaml

    return yaml.dump(tree, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)


def redact(text):
    """'postgresql://user:secret@host/db' -> 'postgresql://user:***@host/db'."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@", str(text))


def flatten(tree, prefix=""):
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}; lists stay as values."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def client():
    """An MlflowClient on MLflow's tracking URI, after checking that a tracking server answers."""
    import mlflow
    from mlflow import MlflowClient

    from .errors import ConfigError

    uri = mlflow.get_tracking_uri()
    if uri.startswith(("http://", "https://")):
        import urllib.error
        import urllib.request

        try:
            urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10).close()
        except (urllib.error.URLError, OSError) as error:
            raise ConfigError(f"cannot reach the MLflow tracking server MLFLOW_TRACKING_URI={redact(uri)} "
                              f"({getattr(error, 'reason', error)}); start it or unset MLFLOW_TRACKING_URI "
                              f"to use ./mlflow.db") from None
    return MlflowClient(uri)


class Run:
    """An open MLflow run. Use as a context manager: FINISHED on success, FAILED on an exception
    (traceback saved as an artifact), KILLED on Ctrl-C/SIGTERM or a deliberate Stop; never left RUNNING."""

    def __init__(self, mlflow_client, run_id, experiment_id, artifact_uri=None):
        self.client, self.run_id, self.experiment_id = mlflow_client, run_id, experiment_id
        self._artifact_uri = artifact_uri
        self.status = "RUNNING"
        self._writer = _Writer(mlflow_client, run_id)

    @classmethod
    def start(cls, experiment, params, tags, config_yaml, parent_run_id=None, run_name=None):
        """A new run with the resolved config as params and as config.yaml. A sweep trial (one with a
        `parent_run_id`) skips the search for stale runs: its sweep searched once when its worker started,
        and trials come one after another, where the search would cost as much as the trial's logging."""
        from mlflow.entities import Param

        mlflow_client = client()
        experiment_id = experiment_id_of(mlflow_client, experiment)
        if parent_run_id is None:
            close_stale_runs(mlflow_client, experiment_id)
        tags = {**{k: redact(v) for k, v in tags.items()}, **_process_tags(), **_git_tags(os.getcwd())}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        try:
            run = mlflow_client.create_run(experiment_id, run_name=redact(run_name) if run_name else None, tags=tags)
        except Exception:  # the experiment id remembered by this process is gone (deleted): look it up again
            _EXPERIMENT_IDS.clear()
            experiment_id = experiment_id_of(mlflow_client, experiment)
            run = mlflow_client.create_run(experiment_id, run_name=redact(run_name) if run_name else None, tags=tags)
        params = [Param(k, _param_value(v)) for k, v in flatten(params).items()]
        try:
            for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
                mlflow_client.log_batch(run.info.run_id, params=params[i:i + MAX_PARAMS_PER_BATCH])
            _log_text(mlflow_client, run.info.run_id, run.info.artifact_uri, redact(config_yaml), "config.yaml")
        except BaseException:
            mlflow_client.set_terminated(run.info.run_id, "FAILED")
            raise
        return cls(mlflow_client, run.info.run_id, experiment_id, run.info.artifact_uri)

    @classmethod
    def reopen(cls, run_id):
        """An existing run, RUNNING again, its `resume_count` tag counted up; params untouched."""
        mlflow_client = client()
        run = mlflow_client.get_run(run_id)
        count = int(run.data.tags.get("resume_count", 0)) + 1
        mlflow_client.update_run(run_id, status="RUNNING")
        mlflow_client.set_tag(run_id, "resume_count", str(count))
        for key, value in _process_tags().items():
            mlflow_client.set_tag(run_id, key, value)
        return cls(mlflow_client, run_id, run.info.experiment_id)

    def log_metrics(self, metrics, step, flush=False):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._writer.add([Metric(key, float(value), now, step) for key, value in metrics.items()], flush)

    def set_tags(self, tags):
        for key, value in tags.items():
            self.client.set_tag(self.run_id, key, redact(value))

    def artifact_uri(self):
        if self._artifact_uri is None:
            self._artifact_uri = self.client.get_run(self.run_id).info.artifact_uri
        return self._artifact_uri

    def log_artifact(self, path, folder):
        self.client.log_artifact(self.run_id, path, folder)

    def log_state_dict(self, state_dict):
        """The trained weights as model/state_dict.pt; kept in a local file if the server is away."""
        import torch

        local = local_folder(self.artifact_uri())
        if local is not None:  # straight into the artifact folder, as config.yaml (no store round trip)
            os.makedirs(os.path.join(local, "model"), exist_ok=True)
            torch.save(state_dict, os.path.join(local, "model", "state_dict.pt"))
            return
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "state_dict.pt")
            torch.save(state_dict, path)
            try:
                self.client.log_artifact(self.run_id, path, "model")
            except Exception as error:  # connection or HTTP errors from the artifact store
                kept = os.path.abspath(f"unrecorded-model-{self.run_id}.pt")
                os.replace(path, kept)
                print(f"ml: warning: could not record the model on the tracking server "
                      f"({type(error).__name__}); it is saved in {kept}", file=sys.stderr)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        from .errors import Stop, TakenOver

        if kind is not None and issubclass(kind, TakenOver):
            self._writer.discard()  # another worker continues this run and writes these steps itself
            return False
        status = "FINISHED"
        if kind is not None:
            status = "KILLED" if issubclass(kind, (KeyboardInterrupt, Stop)) else "FAILED"
        unrecorded = self._writer.close(RETRY_SECONDS)
        try:
            if status == "FAILED":
                self.client.log_text(self.run_id, "".join(traceback.format_exception(kind, error, trace)),
                                     "traceback.txt")
            self.client.set_terminated(self.run_id, status)
        except Exception as problem:
            print(f"ml: warning: could not mark run {self.run_id} {status} on the tracking server "
                  f"({type(problem).__name__}); it shows RUNNING there until resumed", file=sys.stderr)
        if unrecorded:
            path = os.path.abspath(f"unrecorded-metrics-{self.run_id}.jsonl")
            with open(path, "w") as file:
                for metric in unrecorded:
                    file.write(json.dumps({"key": metric.key, "value": metric.value, "step": metric.step,
                                           "timestamp": metric.timestamp}) + "\n")
            print(f"ml: warning: the tracking server did not take {len(unrecorded)} metric values of run "
                  f"{self.run_id}; they are saved in {path}", file=sys.stderr)
        self.status = status
        return False


class Untracked:
    """Stands in for a Run when `tracking=false`: records nothing."""

    run_id = experiment_id = None
    status = "FINISHED"

    def log_metrics(self, metrics, step, flush=False):
        pass

    def log_state_dict(self, state_dict):
        pass

    def artifact_uri(self):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *error):
        return False


class _Writer:
    """Writes metrics in batches from a background thread, in order, retrying while the server is away."""

    def __init__(self, mlflow_client, run_id):
        self.client, self.run_id = mlflow_client, run_id
        self._pending, self._lock, self._wake = [], threading.Lock(), threading.Event()
        self._due = 0  # how many of the pending metrics to write now: flushed ones, or whole batches
        self._closing, self._deadline, self._last_flush = False, None, time.monotonic()
        self.failed_since = None
        self._thread = threading.Thread(target=self._loop, name=f"mlflow-writer-{run_id[:8]}", daemon=True)
        self._thread.start()

    def add(self, metrics, flush):
        with self._lock:
            self._pending += metrics
            due = self._due
            if flush or time.monotonic() - self._last_flush > FLUSH_SECONDS:
                self._due, self._last_flush = len(self._pending), time.monotonic()
            elif len(self._pending) >= self._due + MAX_METRICS_PER_BATCH:
                self._due += MAX_METRICS_PER_BATCH  # a whole batch (MLflow's most per request) is ready
            if self._due != due:
                self._wake.set()

    def _loop(self):
        while True:
            woken = self._closing or self._wake.wait(timeout=FLUSH_SECONDS)
            self._wake.clear()
            with self._lock:
                if self._closing or not woken:  # closing, or quiet for FLUSH_SECONDS: write everything
                    self._due = len(self._pending)
                due = self._due
            while due:
                with self._lock:
                    batch = self._pending[:min(due, MAX_METRICS_PER_BATCH)]
                try:
                    self.client.log_batch(self.run_id, metrics=batch)
                except Exception:  # the server is away (connection, HTTP or store errors): keep and retry
                    if self.failed_since is None:
                        self.failed_since = time.monotonic()
                        print("ml: warning: the tracking server is not answering; metrics are kept and "
                              "retried", file=sys.stderr)
                    if self._closing and time.monotonic() > self._deadline:
                        return
                    time.sleep(1.0)
                    continue
                if self.failed_since is not None:
                    print("ml: the tracking server is back; buffered metrics recorded", file=sys.stderr)
                    self.failed_since = None
                with self._lock:
                    del self._pending[:len(batch)]
                    self._due -= len(batch)
                due -= len(batch)
            if self._closing and not self._pending:
                return

    def discard(self):
        """Stop, dropping what is not written yet."""
        with self._lock:
            self._pending.clear()
            self._due = 0
        self.close(0)

    def close(self, retry_seconds):
        """Write everything pending (retrying up to `retry_seconds`); returns what could not be written."""
        self._closing, self._deadline = True, time.monotonic() + retry_seconds
        self._wake.set()
        self._thread.join(timeout=retry_seconds + 30)
        with self._lock:
            return list(self._pending)


def local_folder(artifact_uri):
    """The folder behind a plain-path or file:// artifact URI; None for s3://, mlflow-artifacts:/, ...
    (and for no URI: an untracked run)."""
    from urllib.parse import urlparse

    if artifact_uri is None or urlparse(artifact_uri).scheme not in ("", "file"):
        return None  # not "://" alone: a tracking server's proxied artifacts are mlflow-artifacts:/<path>
    return artifact_uri[len("file://"):] if artifact_uri.startswith("file://") else artifact_uri


def _log_text(mlflow_client, run_id, artifact_uri, text, name):
    """An artifact file: written straight into a local artifact folder (MLflow's `log_text` would ask the
    store for the run's artifact location first, a round trip a short sweep trial notices), else uploaded."""
    folder = local_folder(artifact_uri)
    if folder is None:
        mlflow_client.log_text(run_id, text, name)
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as file:
        file.write(text)


def experiment_id_of(mlflow_client, name):
    """The id of the experiment `name`, created if need be; remembered per process and tracking URI (a
    sweep's trials would otherwise each ask the store for the same id)."""
    key = (mlflow_client.tracking_uri, name)
    if key not in _EXPERIMENT_IDS:
        _EXPERIMENT_IDS[key] = _find_or_create_experiment(mlflow_client, name)
    return _EXPERIMENT_IDS[key]


_EXPERIMENT_IDS = {}


def _find_or_create_experiment(mlflow_client, name):
    experiment = mlflow_client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        # Open in the MLflow UI's runs table (MLflow 3 otherwise opens experiments on its GenAI overview).
        return mlflow_client.create_experiment(name, tags={"mlflow.experimentKind": "custom_model_development"})
    except Exception:  # created meanwhile by a concurrent process
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def close_stale_runs(mlflow_client, experiment_id):
    """Mark FAILED the RUNNING runs of this experiment whose process, on this host, is gone (kill -9)."""
    host = socket.gethostname()
    for run in mlflow_client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if tags.get("antelope.host") == host and tags.get("antelope.pid", "").isdigit() \
                and not _alive(int(tags["antelope.pid"])):
            mlflow_client.set_tag(run.info.run_id, "antelope.stale", "process gone")
            mlflow_client.set_terminated(run.info.run_id, "FAILED")


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (dead, not yet reaped by its parent) counts as gone
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _process_tags():
    return {"antelope.host": socket.gethostname(), "antelope.pid": str(os.getpid())}


def _param_value(value):
    text = "None" if value is None else redact(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[:MAX_PARAM_LENGTH - 3] + "..."


@functools.lru_cache(maxsize=16)
def _git_tags(folder=None):
    """The git commit of the working directory's repository, when there is one (asked once per folder
    and process: many runs in one process, a sweep's trials say, share it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=folder)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"mlflow.source.git.commit": commit.stdout.strip()} if commit.returncode == 0 else {}


def tracking_uri():
    import mlflow

    return redact(mlflow.get_tracking_uri())
