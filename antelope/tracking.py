"""MLflow: one `ml()` call is one MLflow run, opened and closed explicitly (never the active-run stack).

The tracking URI is MLflow's own: `MLFLOW_TRACKING_URI` when set, else MLflow's default (a `mlflow.db`
SQLite file in the working directory, so `mlflow ui` there shows the runs). Params are the resolved
config flattened to dotted keys; metrics are buffered and written with `log_batch`.
"""
import os
import subprocess
import tempfile
import time
import traceback

MAX_PARAMS_PER_BATCH = 100   # MLflow's limit per log_batch call
MAX_METRICS_PER_BATCH = 1000
MAX_PARAM_LENGTH = 6000
FLUSH_SECONDS = 10.0  # write buffered metrics at least this often (and at every evaluation)


def flatten(tree, prefix=""):
    """{'optim': {'lr': 0.1}} -> {'optim.lr': 0.1}; lists stay as values."""
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


class Run:
    """An open MLflow run. Use as a context manager: FINISHED on success, FAILED on an exception
    (traceback saved as an artifact), KILLED on Ctrl-C; never left RUNNING."""

    def __init__(self, experiment, params, tags, config_yaml, parent_run_id=None, run_name=None):
        from mlflow import MlflowClient
        from mlflow.entities import Param, RunTag

        self.client = MlflowClient()
        experiment_id = _experiment_id(self.client, experiment)
        tags = {**tags, **_git_tags()}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(experiment_id, run_name=run_name, tags=tags)
        self.run_id, self.experiment_id = run.info.run_id, experiment_id
        self._pending, self._last_flush = [], time.monotonic()
        params = [Param(k, _param_value(v)) for k, v in flatten(params).items()]
        try:
            for i in range(0, len(params), MAX_PARAMS_PER_BATCH):
                self.client.log_batch(self.run_id, params=params[i:i + MAX_PARAMS_PER_BATCH])
            self.client.log_text(self.run_id, config_yaml, "config.yaml")
        except BaseException:
            self.client.set_terminated(self.run_id, "FAILED")
            raise
        self._RunTag = RunTag

    def log_metrics(self, metrics, step, flush=False):
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._pending += [Metric(key, float(value), now, step) for key, value in metrics.items()]
        if flush or len(self._pending) >= MAX_METRICS_PER_BATCH or time.monotonic() - self._last_flush > FLUSH_SECONDS:
            self.flush()

    def flush(self):
        for i in range(0, len(self._pending), MAX_METRICS_PER_BATCH):
            self.client.log_batch(self.run_id, metrics=self._pending[i:i + MAX_METRICS_PER_BATCH])
        self._pending, self._last_flush = [], time.monotonic()

    def set_tags(self, tags):
        self.client.log_batch(self.run_id, tags=[self._RunTag(k, str(v)) for k, v in tags.items()])

    def log_state_dict(self, state_dict):
        import torch

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "state_dict.pt")
            torch.save(state_dict, path)
            self.client.log_artifact(self.run_id, path, "model")

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        from .errors import Stop

        status = "FINISHED"
        if kind is not None:
            status = "KILLED" if issubclass(kind, (KeyboardInterrupt, Stop)) else "FAILED"
        try:
            self.flush()
            if status == "FAILED":
                self.client.log_text(self.run_id, "".join(traceback.format_exception(kind, error, trace)),
                                     "traceback.txt")
        finally:
            self.client.set_terminated(self.run_id, status)
        self.status = status
        return False


def _experiment_id(client, name):
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name)
    except Exception:  # created meanwhile by a concurrent process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def _param_value(value):
    text = "None" if value is None else str(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[:MAX_PARAM_LENGTH - 3] + "..."


def _git_tags():
    """The git commit of the working directory's repository, when there is one."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return {}
    return {"mlflow.source.git.commit": commit.stdout.strip()} if commit.returncode == 0 else {}


def tracking_uri():
    import mlflow

    return mlflow.get_tracking_uri()
