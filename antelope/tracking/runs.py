"""A run's life in MLflow: opened (params, tags, config.yaml, how to rerun it), metrics written in the background
(antelope.tracking.writer), closed FINISHED, FAILED or KILLED, never left RUNNING; a sweep's parent run; runs left
RUNNING by a process that is gone closed as FAILED.

One `ml()` call is one MLflow run, opened and closed explicitly (never MLflow's active-run stack), on
MLflow's tracking URI (`MLFLOW_TRACKING_URI`, else ./mlflow.db). Params are the resolved config by dotted
keys. What could not be recorded by the end is saved to a local file and named.
"""

import json
import os
import sys
import time
import traceback

from .. import processes
from ..config import overrides as lines
from ..errors import Pruned, Stop, TakenOver
from .client import client as _client
from .client import redact, refusals, refused_error
from .writer import Metric, Writer

MAX_PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch call
MAX_PARAM_LENGTH = 6000
FLUSH_SECONDS = 10.0  # write buffered metrics at least this often (and at every evaluation)
SLURM_JOB = "antelope.slurm.job_id"  # a run's tag: the Slurm job it runs in (launcher=slurm)
RETRY_SECONDS = float(os.environ.get("ANTELOPE_TRACKING_RETRY_SECONDS", 60))  # at the end, before giving up
VERSION_TAG, COMMIT_TAG = "antelope.version.", "mlflow.source.git.commit"  # + a package's name: its version
_EXPERIMENT_IDS: dict[tuple, str] = {}  # per process: {(tracking URI, name): experiment id}


class Run:
    """An open MLflow run. Use as a context manager: FINISHED on success, FAILED on an exception
    (traceback saved as an artifact), KILLED on Ctrl-C/SIGTERM or a deliberate Stop (FINISHED when it is a
    sweep's pruner's: antelope.errors.Pruned); never left RUNNING."""

    def __init__(self, client, run_id, experiment_id, artifact_uri=None):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id
        self._artifact_uri = artifact_uri
        self.status = "RUNNING"
        self._link: tuple = (None, None, frozenset())  # (step, model id, metric names): see link_model
        self._writer = Writer(self._write, run_id[:8], FLUSH_SECONDS)

    @classmethod
    def start(cls, experiment, params, tags, run_name=None, parent_run_id=None, command=None, queued=None):
        """A new run with the resolved config `params` as params and as config.yaml, the package versions
        and git commit as tags, and as its description (the MLflow UI's) how to rerun it: `ml reproduce=<id>`,
        and `command`, the `ml` line it was started with. A sweep trial (one with a `parent_run_id`) skips
        the search for stale runs: its worker searched once when it started. `queued`: the id of the run made
        for it when its Slurm job was submitted (`queue_run`), which it becomes."""
        client = _client()
        experiment_id = experiment_id_of(experiment)
        if queued is not None:
            return cls._start_queued(client, queued, params, tags, run_name, command)
        if parent_run_id is None:
            close_stale_runs(experiment_id)
        tags = {**{k: redact(v) for k, v in tags.items()}, **_provenance()}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        name = redact(run_name) if run_name else None
        try:
            run = client.create_run(experiment_id, run_name=name, tags=tags)
        except Exception as error:
            refused = refused_error(error, client.tracking_uri, f"record runs in experiment {experiment!r}")
            if refused is not None:
                raise refused from None
            # The experiment id remembered by this process is gone (deleted): look it up again.
            _EXPERIMENT_IDS.clear()
            experiment_id = experiment_id_of(experiment)
            run = client.create_run(experiment_id, run_name=name, tags=tags)
        _record_config(client, run, params, command)
        return cls(client, run.info.run_id, experiment_id, run.info.artifact_uri)

    @classmethod
    def _start_queued(cls, client, run_id, params, tags, run_name, command):
        from mlflow.entities import RunTag

        run = client.get_run(run_id)
        client.update_run(run_id, status="RUNNING", name=redact(run_name) if run_name else None)
        client.log_batch(run_id, tags=[RunTag(k, redact(v)) for k, v in {**tags, **_provenance()}.items()])
        _record_config(client, run, params, command)
        return cls(client, run_id, run.info.experiment_id, run.info.artifact_uri)

    @classmethod
    def reopen(cls, run_id):
        """An existing run, RUNNING again, its `resume_count` tag counted up; params untouched."""
        client = _client()
        run = client.get_run(run_id)
        count = int(run.data.tags.get("resume_count", 0)) + 1
        client.update_run(run_id, status="RUNNING")
        client.set_tag(run_id, "resume_count", str(count))
        for key, value in process_tags().items():
            client.set_tag(run_id, key, value)
        return cls(client, run_id, run.info.experiment_id)

    def log_metrics(self, metrics, step, flush=False):
        """A log sink: {name: value} at `step`, written in the background; those `link_model` named for this
        step are also the metrics of its logged model."""
        now = int(time.time() * 1000)
        linked_step, model_id, names = self._link
        self._writer.add(
            [
                Metric(key, float(value), now, step, model_id if step == linked_step and key in names else None)
                for key, value in metrics.items()
            ],
            flush,
        )

    def link_model(self, step, model_id, names):
        """The metrics `names` written next at `step` belong to the logged model `model_id` (its evaluation)."""
        self._link = (step, model_id, frozenset(names))

    def _write(self, batch):
        from mlflow.entities import Metric as MlflowMetric

        self.client.log_batch(
            self.run_id, metrics=[MlflowMetric(m.key, m.value, m.timestamp, m.step, model_id=m.model_id) for m in batch]
        )

    def flush_metrics(self):
        """Write the buffered metrics now; returns whether they were written (within RETRY_SECONDS)."""
        return self._writer.flush(RETRY_SECONDS)

    def close_metrics(self):
        """Write the buffered metrics now (retrying up to RETRY_SECONDS); what is still unrecorded is saved to a
        local file when the run closes."""
        self._writer.close(RETRY_SECONDS)

    def artifact_uri(self):
        if self._artifact_uri is None:
            self._artifact_uri = self.client.get_run(self.run_id).info.artifact_uri
        return self._artifact_uri

    def local_artifact_folder(self):
        """The run's artifact folder when it is on this machine's disk, else None."""
        return local_folder(self.artifact_uri())

    def log_artifact(self, path, folder):
        self.client.log_artifact(self.run_id, path, folder)

    def artifact_names(self, folder):
        """The names of the files in the run's artifact `folder`."""
        return [os.path.basename(info.path) for info in self.client.list_artifacts(self.run_id, folder)]

    def delete_artifact(self, path):
        """A file of the run's artifacts deleted (a remote store's: a local folder is the caller's to clean)."""
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        get_artifact_repository(self.artifact_uri()).delete_artifacts(path)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is not None and issubclass(kind, TakenOver):
            self._writer.discard()  # another worker continues this run and writes these steps itself
            return False
        status = "FINISHED"
        if kind is not None and not issubclass(kind, Pruned):
            status = "KILLED" if issubclass(kind, (KeyboardInterrupt, Stop)) else "FAILED"
        unrecorded = self._writer.close(RETRY_SECONDS)
        try:
            if status == "FAILED":
                self.client.log_text(
                    self.run_id, redact("".join(traceback.format_exception(kind, error, trace))), "traceback.txt"
                )
            self.client.set_terminated(self.run_id, status)
        except Exception as problem:
            print(
                f"ml: warning: could not mark run {self.run_id} {status} on the tracking server "
                f"({type(problem).__name__}); it shows RUNNING there until resumed",
                file=sys.stderr,
            )
        if unrecorded:
            path = os.path.abspath(f"unrecorded-metrics-{self.run_id}.jsonl")
            with open(path, "w") as file:
                for metric in unrecorded:
                    file.write(json.dumps(metric._asdict()) + "\n")
            print(
                f"ml: warning: the tracking server did not take {len(unrecorded)} metric values of run "
                f"{self.run_id}; they are saved in {path}",
                file=sys.stderr,
            )
        self.status = status
        return False


class Untracked:
    """Stands in for a Run when `tracking=false` (or on a torchrun process but rank 0): records nothing."""

    run_id = experiment_id = None
    status = "FINISHED"

    def log_metrics(self, metrics, step, flush=False):
        pass

    def log_artifact(self, path, folder):
        pass

    def local_artifact_folder(self):
        return None

    def __enter__(self):
        return self

    def __exit__(self, *error):
        return False


def local_folder(artifact_uri):
    """The folder behind a plain-path or file:// artifact URI; None for s3://, mlflow-artifacts:/, ...
    (and for no URI: an untracked run)."""
    from urllib.parse import urlparse

    if artifact_uri is None or urlparse(artifact_uri).scheme not in ("", "file"):
        return None  # not "://" alone: a tracking server's proxied artifacts are mlflow-artifacts:/<path>
    return artifact_uri[len("file://") :] if artifact_uri.startswith("file://") else artifact_uri


def _log_text(client, run_id, artifact_uri, text, name):
    """An artifact file: written straight into a local artifact folder (MLflow's `log_text` asks the store
    for the run's artifact location first, a round trip a short sweep trial notices), else uploaded."""
    folder = local_folder(artifact_uri)
    if folder is None:
        client.log_text(run_id, text, name)
        return
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "w") as file:
        file.write(text)


def experiment_id_of(name):
    """The id of the experiment `name`, created if need be; remembered per process and tracking URI (a
    sweep's trials would otherwise each ask the store for the same id)."""
    client = _client()
    key = (client.tracking_uri, name)
    if key not in _EXPERIMENT_IDS:
        with refusals(client.tracking_uri, f"use experiment {name!r}"):
            _EXPERIMENT_IDS[key] = _find_or_create_experiment(client, name)
    return _EXPERIMENT_IDS[key]


def _find_or_create_experiment(client, name):
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        # The kind of experiment, as MLflow's UI lists it; the page it opens on comes from the address (ui_address).
        return client.create_experiment(name, tags={"mlflow.experimentKind": "custom_model_development"})
    except Exception:  # created meanwhile by a concurrent process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def close_stale_runs(experiment_id):
    """Mark FAILED the RUNNING runs of this experiment whose process, on this host, is gone (kill -9), and close
    its runs whose Slurm job was cancelled before it started (close_unstarted_runs)."""
    for run in _client().search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if processes.gone(f"{tags.get('antelope.host')}:{tags.get('antelope.pid')}"):
            end_lost_run(run.info.run_id, "process gone")
    close_unstarted_runs([experiment_id])


def close_unstarted_runs(experiment_ids):
    """Mark KILLED the SCHEDULED runs (made for a launcher=slurm job before it starts) whose job has left Slurm's
    queue without starting them (cancelled while pending): nothing else would ever end them. Only where squeue
    answers, so on the cluster; a run its job started meanwhile is left to it."""
    if not experiment_ids or not processes.slurm_here():
        return
    client = _client()
    for run in client.search_runs(experiment_ids, "attributes.status = 'SCHEDULED'", max_results=1000):
        job = run.data.tags.get(SLURM_JOB)
        if job and processes.job_left(job) and client.get_run(run.info.run_id).info.status == "SCHEDULED":
            client.set_tag(run.info.run_id, "antelope.stale", f"its Slurm job {job} left the queue before it started")
            client.set_terminated(run.info.run_id, "KILLED")


def end_lost_run(run_id, why):
    """A run whose process is lost (killed, its machine gone): FAILED, tagged with why."""
    client = _client()
    client.set_tag(run_id, "antelope.stale", why)
    client.set_terminated(run_id, "FAILED")


def process_tags():
    """Where a run's process is (a later run on this host can tell whether it is still alive), and what started
    it: MLflow's source tags, which its UI's Source column shows (the script, or the `ml` command)."""
    host, _, pid = processes.this_process().rpartition(":")
    return {
        "antelope.host": host,
        "antelope.pid": pid,
        "mlflow.source.name": source_name(),
        "mlflow.source.type": "LOCAL",
    }


def source_name():
    """The script that runs antelope (its path), `ml` for the console, `python` for `python -c` or a prompt."""
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-") else ""
    if os.path.basename(script) == "ml" or script.endswith(os.path.join("antelope", "__main__.py")):  # -m antelope
        return "ml"
    return os.path.abspath(script) if script else "python"


def param_value(value):
    text = "None" if value is None else redact(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[: MAX_PARAM_LENGTH - 3] + "..."


def open_parent_run(experiment, name, params, tags, run_id=None):
    """A sweep's parent run: `run_id` RUNNING again (a resumed sweep, another worker), or a new one with
    the sweep's settings as `params`; returns its id."""
    from mlflow.entities import Param

    client = _client()
    tags = {**tags, **process_tags()}
    if run_id is not None:
        try:
            client.update_run(run_id, status="RUNNING")
            set_tags(run_id, tags)
            return run_id
        except Exception:  # a parent run in another tracking store: start one here
            pass
    with refusals(client.tracking_uri, f"record runs in experiment {experiment!r}"):
        run_id = client.create_run(experiment_id_of(experiment), run_name=name, tags=tags).info.run_id
    client.log_batch(run_id, params=[Param(k, param_value(v)) for k, v in params.items()])
    return run_id


def _provenance():
    """A run's tags of where it runs (process_tags), the package versions and the git commit."""
    commit = processes.git_commit(os.getcwd())
    return {
        **process_tags(),
        **{f"{VERSION_TAG}{name}": str(v) for name, v in processes.package_versions().items()},
        **({COMMIT_TAG: commit} if commit else {}),
    }


def _record_config(client, run, params, command):
    """The resolved config as the run's params and config.yaml, and its description: how to rerun it."""
    from mlflow.entities import Param, RunTag

    values = [Param(k, param_value(v)) for k, v in lines.flatten(params).items()]
    try:
        note = f"Rerun it (its recorded config, as a new run): `ml reproduce={run.info.run_id}`"
        if command:
            note += f"\n\nIts command: `{redact(command)}`"
        for i in range(0, len(values), MAX_PARAMS_PER_BATCH):  # the note with the first batch: one round trip
            client.log_batch(
                run.info.run_id,
                params=values[i : i + MAX_PARAMS_PER_BATCH],
                tags=[] if i else [RunTag("mlflow.note.content", note)],
            )
        _log_text(client, run.info.run_id, run.info.artifact_uri, redact(lines.to_yaml(params)), "config.yaml")
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise


def queue_run(experiment, run_name, tags):
    """A run made before its Slurm job starts (SCHEDULED; `Run.start(queued=...)` fills it in the job): the
    console can name it when it submits the job."""
    client = _client()
    experiment_id = experiment_id_of(experiment)
    with refusals(client.tracking_uri, f"record runs in experiment {experiment!r}"):
        run = client.create_run(experiment_id, run_name=redact(run_name), tags={k: redact(v) for k, v in tags.items()})
    client.update_run(run.info.run_id, status="SCHEDULED")
    return run.info.run_id


def delete_run(run_id):
    """A queued run whose job was never submitted: gone, as if never made."""
    _client().delete_run(run_id)


def set_tags(run_id, tags):
    from mlflow.entities import RunTag

    _client().log_batch(run_id, tags=[RunTag(k, redact(v)) for k, v in tags.items()])


def log_metric(run_id, name, value, step):
    from mlflow.entities import Metric as MlflowMetric

    _client().log_batch(run_id, metrics=[MlflowMetric(name, value, int(time.time() * 1000), step)])


def end_run(run_id, status):
    """FINISHED, FAILED or KILLED."""
    _client().set_terminated(run_id, status)


def log_artifacts(run_id, path, folder=None):
    """A local file, or every file in a local folder, into the run's artifacts under `folder`."""
    client = _client()
    (client.log_artifacts if os.path.isdir(path) else client.log_artifact)(run_id, path, folder)
