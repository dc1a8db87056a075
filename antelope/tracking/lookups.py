"""Reading what runs recorded: a run's config, tags, status, metrics and newest checkpoint (to resume, reproduce
or take a trial over), and the table of runs (`mlflow.search_runs`) the results room reads."""

import os
import tempfile
from dataclasses import dataclass

from .. import processes
from ..errors import ConfigError
from ..imports import did_you_mean
from .client import client as _client
from .client import quiet, redact, tracking_uri
from .runs import COMMIT_TAG, VERSION_TAG, close_unstarted_runs, local_folder


@dataclass
class Recorded:
    run_id: str
    config_yaml: str  # the run's recorded config.yaml
    tags: dict
    checkpoints: tuple = ()  # its checkpoints' artifact paths, the newest first; none: stopped before the first


def latest_run_id(experiment):
    """The id of the experiment's newest run (load=true)."""
    client = _client()
    found = client.get_experiment_by_name(experiment)
    runs = (
        client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"], max_results=1)
        if found
        else []
    )
    if not runs:
        raise ConfigError(f"load=true: experiment {experiment!r} has no run to continue")
    return runs[0].info.run_id


def recorded(run_id, key="reproduce"):
    """A run's recorded config and tags (`key`: the config key that named it, for errors)."""
    client = _client()
    try:
        run = client.get_run(run_id)
    except Exception:
        raise ConfigError(f"{key}={run_id!r}: no such MLflow run in {tracking_uri()}") from None
    try:
        with quiet("mlflow"), open(client.download_artifacts(run_id, "config.yaml", tempfile.mkdtemp())) as file:
            return Recorded(run_id, file.read(), run.data.tags)
    except Exception:
        raise ConfigError(
            f"{key}={run_id!r}: run {run.info.run_name!r} has no config.yaml: it was not started by ml"
        ) from None


def resumable(run_id, checkpoints="checkpoints"):
    """A run to resume: its recorded config and its checkpoints, newest first (none before its first); an error
    if it runs in a live process. Its status is left as it is: the resume reopens it once it can continue it."""
    found = recorded(run_id, "resume")
    previous = _client().get_run(run_id)
    tags = previous.data.tags
    if previous.info.status == "RUNNING" and not processes.gone(
        f"{tags.get('antelope.host')}:{tags.get('antelope.pid')}"
    ):
        raise ConfigError(
            f"run {run_id} is RUNNING in a live process (pid {tags.get('antelope.pid')}); stop it before resuming"
        )
    found.checkpoints = artifacts(run_id, checkpoints)
    return found


def changes_since(tags):
    """What differs between the git commit and package versions recorded in a run's `tags` and this
    process's: ['torch 2.4.1 then, 2.5.1 now', ...]."""
    now = {f"{VERSION_TAG}{name}": str(v) for name, v in processes.package_versions().items()}
    now[COMMIT_TAG] = processes.git_commit(os.getcwd())
    return [
        f"{key.removeprefix(VERSION_TAG).replace(COMMIT_TAG, 'git commit')} {tags.get(key)} then, {value} now"
        for key, value in now.items()
        if tags.get(key) != str(value) and (key in tags or value)
    ]


def artifacts(run_id, folder, suffix=".pt"):
    """The run's artifacts `folder/*suffix`, the last by name first (checkpoints are named by their zero-padded
    step), as paths inside its artifacts; `artifact_file` gives each as a local file."""
    client = _client()
    local = local_folder(client.get_run(run_id).info.artifact_uri)
    if local is not None:
        found = os.listdir(os.path.join(local, folder)) if os.path.isdir(os.path.join(local, folder)) else []
        return [f"{folder}/{name}" for name in sorted(found, reverse=True) if name.endswith(suffix)]
    return sorted((a.path for a in client.list_artifacts(run_id, folder) if a.path.endswith(suffix)), reverse=True)


def artifact_file(run_id, path):
    """A local file of the run's artifact `path`: in its artifact folder when that is local, else downloaded."""
    client = _client()
    local = local_folder(client.get_run(run_id).info.artifact_uri)
    if local is not None:
        return os.path.join(local, path)
    return client.download_artifacts(run_id, path, tempfile.mkdtemp())


def run_status(run_id):
    return _client().get_run(run_id).info.status


def run_experiment_id(run_id):
    return _client().get_run(run_id).info.experiment_id


def run_tags(run_id):
    return _client().get_run(run_id).data.tags


def run_metrics(run_id):
    """{name: latest value} of every metric the run logged."""
    return dict(_client().get_run(run_id).data.metrics)


def last_metric(run_id, name):
    """The latest value of a metric the run logged, or None."""
    return _client().get_run(run_id).data.metrics.get(name)


def find_run(experiment, tags):
    """The id of the experiment's run with these tags (a sweep trial's, by study and number), or None."""
    client = _client()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    where = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
    runs = client.search_runs([found.experiment_id], where, max_results=1)
    return runs[0].info.run_id if runs else None


def experiment_to_show(name=None):
    """The id of the experiment `name`, or (no name) that of the store's newest run; None when the store has no
    run yet. An unknown name is a one-line error listing those there are."""
    client = _client()
    if name is not None:
        found = client.get_experiment_by_name(name)
        if found is None:
            existing = [e.name for e in client.search_experiments()]
            raise ConfigError(
                f"unknown experiment {name!r}{did_you_mean(name, existing)}; experiments in "
                f"{tracking_uri()}: {', '.join(sorted(existing)) or 'none'}"
            )
        return found.experiment_id
    ids = [e.experiment_id for e in client.search_experiments()]
    newest = client.search_runs(ids, order_by=["attributes.start_time DESC"], max_results=1) if ids else []
    return newest[0].info.experiment_id if newest else None


def search_runs(experiments=None, filter=None):
    """MLflow's own table of runs (`mlflow.search_runs`), oldest first, with an `experiment` column of
    names: every experiment's, or those named. Bad names and filters are one-line errors."""
    import mlflow
    from mlflow.exceptions import MlflowException

    _client()  # a server that does not answer is an error here, not a hang in MLflow's retries
    existing = {e.name: e.experiment_id for e in mlflow.search_experiments()}
    names = [experiments] if isinstance(experiments, str) else list(existing if experiments is None else experiments)
    for name in names:
        if name not in existing:
            raise ConfigError(
                f"unknown experiment {name!r}{did_you_mean(name, existing)}; experiments in "
                f"{tracking_uri()}: {', '.join(sorted(existing)) or 'none'}"
            )
    close_unstarted_runs([existing[name] for name in names])  # a run its cancelled Slurm job never started
    try:
        frame = mlflow.search_runs(
            [existing[name] for name in names], filter or "", order_by=["attributes.start_time ASC"]
        )
    except MlflowException as error:
        message = redact(str(error.message).splitlines()[0])
        raise ConfigError(
            f'bad filter {filter!r}: {message}; e.g. "metrics.`eval/accuracy` > 0.9" or '
            f"\"params.`optim.lr` = '0.01'\" (backquote names with dots or slashes)"
        ) from None
    if not frame.empty:
        frame.insert(2, "experiment", frame["experiment_id"].map({i: name for name, i in existing.items()}))
    return frame


def metric_history(run_id, name):
    """{step: value} of one metric of a run, in step order."""
    return {m.step: m.value for m in sorted(_client().get_metric_history(run_id, name), key=lambda m: m.step)}
