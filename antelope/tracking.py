"""MLflow, and only here: runs, a sweep's parent and child runs, resume lookups, the table of runs. The one
module that speaks MLflow (tests/test_layout.py checks it), so it is longer than the others: every MLflow
call of a run's life, a sweep's and a reader's, in that order.

One `ml()` call is one MLflow run, opened and closed explicitly (never MLflow's active-run stack), on
MLflow's tracking URI (`MLFLOW_TRACKING_URI`, else ./mlflow.db). Params are the resolved config by dotted
keys. Metrics reach MLflow from a background writer (antelope.writer), so training never waits on the
tracking server; what could not be recorded by the end is saved to a local file and named. Credentials in
URIs are masked in everything recorded or printed.
"""
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass

from . import overrides as lines, processes
from .errors import ConfigError, Stop, TakenOver
from .writer import Metric, Writer

MAX_PARAMS_PER_BATCH = 100  # MLflow's limit per log_batch call
MAX_PARAM_LENGTH = 6000
FLUSH_SECONDS = 10.0  # write buffered metrics at least this often (and at every evaluation)
RETRY_SECONDS = float(os.environ.get("ANTELOPE_TRACKING_RETRY_SECONDS", 60))  # at the end, before giving up
_CREDENTIALS = re.compile(r"(?<=://)([^/:@\s]*):([^/@\s]+)@")
_USER_INFO = re.compile(r"(?<=://)([^/:@\s]*)(?::[^/@\s]*)?@")  # user:password@ of http://user:password@host
VERSION_TAG, COMMIT_TAG = "antelope.version.", "mlflow.source.git.commit"  # + a package's name: its version
MODEL = "model"  # the name of a run's logged model: runs:/<run_id>/model
_CLIENTS, _EXPERIMENT_IDS = {}, {}  # per process: {tracking URI: MlflowClient}, {(URI, name): experiment id}


def redact(text):
    """'postgresql://user:secret@host/db' -> 'postgresql://user:***@host/db' (and so for http://)."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@", str(text))


def tracking_uri(redacted=True):
    import mlflow

    uri = mlflow.get_tracking_uri()
    return redact(uri) if redacted else uri


def use(uri):
    """Record into `uri` from now on in this process (a sweep's worker process: its parent's store)."""
    import mlflow

    mlflow.set_tracking_uri(uri)


def _client():
    """An MlflowClient on MLflow's tracking URI, after checking that a tracking server answers and, the first
    time, that it takes this process's login; one per URI and process (creating one costs more than a sweep
    trial's logging)."""
    from mlflow import MlflowClient

    uri = tracking_uri(redacted=False)
    server = uri.startswith(("http://", "https://"))
    if server:
        import urllib.error
        import urllib.request

        try:  # without user:password@, which urllib would take for part of the host name
            urllib.request.urlopen(_USER_INFO.sub("", uri, count=1).rstrip("/") + "/health", timeout=10).close()
        except (urllib.error.URLError, OSError) as error:
            raise ConfigError(f"cannot reach the MLflow tracking server MLFLOW_TRACKING_URI={redact(uri)} "
                              f"({getattr(error, 'reason', error)}); start it or unset MLFLOW_TRACKING_URI "
                              f"to use ./mlflow.db") from None
    if uri not in _CLIENTS:
        client = MlflowClient(uri)
        if server:
            _check_login(client, uri)
        _CLIENTS[uri] = client
    return _CLIENTS[uri]


def _check_login(client, uri):
    """A server with MLflow's login (tracking/server.sh opened to a network) answers /health to anyone and
    everything else only to its users: one small request that needs a login tells now, in one line, what
    would otherwise be a traceback in the middle of a run."""
    if _USER_INFO.search(uri):
        # MLflow prints each finished run's link on this URI, user:password@ and all.
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    with _refusals(uri, "read its experiments"):
        client.search_experiments(max_results=1)


@contextlib.contextmanager
def _refusals(uri, doing):
    """MLflow's refusals (401, 403) inside as one-line ConfigErrors; other errors as they are."""
    try:
        yield
    except Exception as error:
        refused = _refused(error, uri, doing)
        if refused is None:
            raise
        raise refused from None


def _refused(error, uri, doing):
    """MLflow's answer 401 (no login, or a wrong one) or 403 (a user without the permission) as a one-line
    ConfigError naming the server and what to set; None for any other error."""
    code = getattr(error, "error_code", None)
    if code not in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return None
    in_uri = _USER_INFO.search(uri)
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or (in_uri.group(1) if in_uri else None)
    server = f"the MLflow tracking server MLFLOW_TRACKING_URI={redact(uri)}"
    if code == "PERMISSION_DENIED":
        return ConfigError(f"{server} does not let user {user!r} {doing}; its admin can give EDIT permission "
                           f"(tracking/README.md)")
    refused = f"refused the login of user {user!r}" if user else "asks for a login"
    return ConfigError(f"{server} {refused}: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an "
                       f"account on it (its admin creates accounts: tracking/README.md)")


# --- a run's life ---------------------------------------------------------------------------------------

class Run:
    """An open MLflow run. Use as a context manager: FINISHED on success, FAILED on an exception
    (traceback saved as an artifact), KILLED on Ctrl-C/SIGTERM or a deliberate Stop; never left RUNNING."""

    def __init__(self, client, run_id, experiment_id, artifact_uri=None):
        self.client, self.run_id, self.experiment_id = client, run_id, experiment_id
        self._artifact_uri = artifact_uri
        self.status = "RUNNING"
        self._writer = Writer(self._write, run_id[:8], FLUSH_SECONDS)

    @classmethod
    def start(cls, experiment, params, tags, run_name=None, parent_run_id=None, command=None):
        """A new run with the resolved config `params` as params and as config.yaml, the package versions
        and git commit as tags, and as its description (the MLflow UI's) how to rerun it: `ml reproduce=<id>`,
        and `command`, the `ml` line it was started with. A sweep trial (one with a `parent_run_id`) skips
        the search for stale runs: its worker searched once when it started."""
        from mlflow.entities import Param, RunTag

        client = _client()
        experiment_id = experiment_id_of(experiment)
        if parent_run_id is None:
            close_stale_runs(experiment_id)
        commit = processes.git_commit(os.getcwd())
        tags = {**{k: redact(v) for k, v in tags.items()}, **process_tags(),
                **{f"{VERSION_TAG}{name}": str(v) for name, v in processes.package_versions().items()},
                **({COMMIT_TAG: commit} if commit else {})}
        if parent_run_id:
            tags["mlflow.parentRunId"] = parent_run_id
        name = redact(run_name) if run_name else None
        try:
            run = client.create_run(experiment_id, run_name=name, tags=tags)
        except Exception as error:
            refused = _refused(error, client.tracking_uri, f"record runs in experiment {experiment!r}")
            if refused is not None:
                raise refused from None
            # The experiment id remembered by this process is gone (deleted): look it up again.
            _EXPERIMENT_IDS.clear()
            experiment_id = experiment_id_of(experiment)
            run = client.create_run(experiment_id, run_name=name, tags=tags)
        values = [Param(k, _param_value(v)) for k, v in lines.flatten(params).items()]
        try:
            note = f"Rerun it (its recorded config, as a new run): `ml reproduce={run.info.run_id}`"
            if command:
                note += f"\n\nIts command: `{redact(command)}`"
            for i in range(0, len(values), MAX_PARAMS_PER_BATCH):  # the note with the first batch: one round trip
                client.log_batch(run.info.run_id, params=values[i:i + MAX_PARAMS_PER_BATCH],
                                 tags=[] if i else [RunTag("mlflow.note.content", note)])
            _log_text(client, run.info.run_id, run.info.artifact_uri, redact(lines.to_yaml(params)), "config.yaml")
        except BaseException:
            client.set_terminated(run.info.run_id, "FAILED")
            raise
        return cls(client, run.info.run_id, experiment_id, run.info.artifact_uri)

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
        """A log sink: {name: value} at `step`, written in the background."""
        now = int(time.time() * 1000)
        self._writer.add([Metric(key, float(value), now, step) for key, value in metrics.items()], flush)

    def _write(self, batch):
        from mlflow.entities import Metric as MlflowMetric

        self.client.log_batch(self.run_id, metrics=[MlflowMetric(*m) for m in batch])

    def artifact_uri(self):
        if self._artifact_uri is None:
            self._artifact_uri = self.client.get_run(self.run_id).info.artifact_uri
        return self._artifact_uri

    def local_artifact_folder(self):
        """The run's artifact folder when it is on this machine's disk, else None."""
        return local_folder(self.artifact_uri())

    def log_artifact(self, path, folder):
        self.client.log_artifact(self.run_id, path, folder)

    def log_model(self, model, example, step, params, tags, metrics):
        """The trained model as an MLflow Model named `MODEL`, so that runs:/<run_id>/model loads it, linked
        to this run and to its `metrics` (names) at `step` (written first). `example`: (inputs, outputs) as
        numpy arrays for its signature and input example; None when its forward does not take the data.
        Pickled (mlflow.pytorch's "pickle" format, not "pt2"): it loads as its own class, `learn` and all,
        wherever that class can be imported; classes of a `path/to/file.py` or a script travel by value.
        Kept in a local folder, and said so, when the tracking server is away.

        Saved with `mlflow.pytorch.save_model` and recorded with the client's logged-model calls rather than
        `mlflow.pytorch.log_model`: that one checks the input example by loading the model back in this
        process, and unpickling a class pickled by value here rebinds its methods to copies of what they
        closed over (cloudpickle keeps one class per process), so a script's model class would no longer
        see the script's own objects after its first run."""
        import mlflow.pytorch
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric
        from mlflow.models import Model, infer_signature

        self._writer.close(RETRY_SECONDS)  # what is still unrecorded is saved locally on exit, as ever
        _pickle_by_value_what_cannot_be_imported()
        failure = logged = None
        try:
            logged = self.client.create_logged_model(self.experiment_id, MODEL, self.run_id, tags=tags,
                                                     params={k: _param_value(v) for k, v in params.items()})
        except Exception as error:  # connection or HTTP errors from the store
            failure = error
        described = Model(artifact_path=logged.artifact_location, run_id=self.run_id, model_uuid=logged.model_id,
                          model_id=logged.model_id) if logged is not None else None
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, MODEL)
            try:
                with _quiet("mlflow.pytorch"):  # its warning that pickles run code when loaded: as any checkpoint
                    mlflow.pytorch.save_model(
                        model, path, mlflow_model=described, serialization_format="pickle",
                        signature=infer_signature(*example) if example is not None else None,
                        input_example=example[0] if example is not None else None,
                        pip_requirements=_requirements(model), metadata={"antelope_model": tags["antelope.model"]})
            except Exception as error:  # a model that cannot be pickled
                print(f"ml: warning: could not save the model as an MLflow Model ({type(error).__name__}: {error}); "
                      f"its weights are in the run's checkpoints", file=sys.stderr)
                if logged is not None:
                    self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
                return None
            if logged is not None:
                try:
                    self.client.log_model_artifacts(logged.model_id, path)
                    self.client.log_outputs(self.run_id, [LoggedModelOutput(logged.model_id, step)])
                    final = [Metric(m.key, m.value, m.timestamp, m.step, model_id=logged.model_id) for name in metrics
                             for m in self.client.get_metric_history(self.run_id, name) if m.step == step]
                    self.client.log_batch(self.run_id, metrics=final)  # the same points, now the model's too
                    self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
                    return logged.model_id
                except Exception as error:
                    failure = error
            kept = os.path.abspath(f"unrecorded-model-{self.run_id}")
            shutil.rmtree(kept, ignore_errors=True)
            shutil.move(path, kept)
        print(f"ml: warning: could not record the model on the tracking server ({type(failure).__name__}); "
              f"it is saved in {kept} (mlflow.pytorch.load_model({kept!r}) loads it)", file=sys.stderr)
        return None

    def __enter__(self):
        return self

    def __exit__(self, kind, error, trace):
        if kind is not None and issubclass(kind, TakenOver):
            self._writer.discard()  # another worker continues this run and writes these steps itself
            return False
        status = "FINISHED"
        if kind is not None:
            status = "KILLED" if issubclass(kind, (KeyboardInterrupt, Stop)) else "FAILED"
        unrecorded = self._writer.close(RETRY_SECONDS)
        try:
            if status == "FAILED":
                self.client.log_text(self.run_id, redact("".join(traceback.format_exception(kind, error, trace))),
                                     "traceback.txt")
            self.client.set_terminated(self.run_id, status)
        except Exception as problem:
            print(f"ml: warning: could not mark run {self.run_id} {status} on the tracking server "
                  f"({type(problem).__name__}); it shows RUNNING there until resumed", file=sys.stderr)
        if unrecorded:
            path = os.path.abspath(f"unrecorded-metrics-{self.run_id}.jsonl")
            with open(path, "w") as file:
                for metric in unrecorded:
                    file.write(json.dumps(metric._asdict()) + "\n")
            print(f"ml: warning: the tracking server did not take {len(unrecorded)} metric values of run "
                  f"{self.run_id}; they are saved in {path}", file=sys.stderr)
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

    def log_model(self, model, example, step, params, tags, metrics):
        return None

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
    return artifact_uri[len("file://"):] if artifact_uri.startswith("file://") else artifact_uri


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
        with _refusals(client.tracking_uri, f"use experiment {name!r}"):
            _EXPERIMENT_IDS[key] = _find_or_create_experiment(client, name)
    return _EXPERIMENT_IDS[key]


def _find_or_create_experiment(client, name):
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        # Open in the MLflow UI's runs table (MLflow 3 otherwise opens experiments on its GenAI overview).
        return client.create_experiment(name, tags={"mlflow.experimentKind": "custom_model_development"})
    except Exception:  # created meanwhile by a concurrent process
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def close_stale_runs(experiment_id):
    """Mark FAILED the RUNNING runs of this experiment whose process, on this host, is gone (kill -9)."""
    for run in _client().search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        tags = run.data.tags
        if processes.gone(f"{tags.get('antelope.host')}:{tags.get('antelope.pid')}"):
            end_lost_run(run.info.run_id, "process gone")


def end_lost_run(run_id, why):
    """A run whose process is lost (killed, its machine gone): FAILED, tagged with why."""
    client = _client()
    client.set_tag(run_id, "antelope.stale", why)
    client.set_terminated(run_id, "FAILED")


def process_tags():
    """Where a run's process is: a later run on this host can tell whether it is still alive."""
    host, _, pid = processes.this_process().rpartition(":")
    return {"antelope.host": host, "antelope.pid": pid}


def _param_value(value):
    text = "None" if value is None else redact(value)
    return text if len(text) <= MAX_PARAM_LENGTH else text[:MAX_PARAM_LENGTH - 3] + "..."


# --- what a run records besides metrics: its model, its data, its machine ------------------------------

@contextlib.contextmanager
def _quiet(logger, level=logging.ERROR):
    """MLflow's INFO and WARNING lines of one of its loggers left out while antelope calls it: what they
    say is either antelope's choice (pickled models) or what antelope prints itself."""
    logger = logging.getLogger(logger)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)


def _requirements(model):
    """The pip requirements of a logged model: explicit (MLflow would otherwise infer them by loading the
    model in a subprocess, seconds per sweep trial): torch and cloudpickle, and antelope when the model is
    or wraps one of its agents."""
    versions = processes.package_versions()
    from importlib.metadata import version

    needed = [f"torch=={versions['torch']}", f"cloudpickle=={version('cloudpickle')}"]
    if any(type(module).__module__.startswith("antelope.") for module in model.modules()):
        needed.append(f"antelope=={versions['antelope']}")
    return needed


def _pickle_by_value_what_cannot_be_imported():
    """Classes of a `model=path/to/file.py:Net` are in a module no other process can import by name:
    cloudpickle (MLflow's pickler for PyTorch) then stores them by value, as it does a script's classes."""
    import cloudpickle

    from .imports import FILE_MODULE_PREFIX

    for name, module in list(sys.modules.items()):
        if name.startswith(FILE_MODULE_PREFIX):
            cloudpickle.register_pickle_by_value(module)


def is_model_uri(text):
    """Whether `model=` names a logged model (a fork of another run) rather than a class."""
    return isinstance(text, str) and text.startswith(("runs:/", "models:/"))


def model_uri(run_or_uri):
    """'runs:/<id>/model' for a run id; a model URI as it is."""
    return run_or_uri if is_model_uri(run_or_uri) else f"runs:/{run_or_uri}/{MODEL}"


def load_model(run_or_uri, device=None):
    """The trained nn.Module of a run (its id) or at a model URI (runs:/<id>/model, models:/<name>/<version>,
    models:/<model id>), on `device` (default: where it was trained, CPU when that is absent here)."""
    import mlflow.pytorch
    import torch
    from mlflow.exceptions import MlflowException

    uri = model_uri(run_or_uri)
    _client()  # a server that does not answer is an error here, not a hang in MLflow's retries
    if device is None and not torch.cuda.is_available():
        device = "cpu"
    try:
        return mlflow.pytorch.load_model(uri, map_location=device)
    except MlflowException as error:
        reason = redact(str(error.message).splitlines()[0])
        raise ConfigError(f"no model at {uri} in {tracking_uri()} ({reason}); give a run id, runs:/<run_id>/model "
                          f"or models:/<name>/<version>") from None
    except (ModuleNotFoundError, AttributeError) as error:  # unpickling found no module or class by that name
        import mlflow.models

        name = mlflow.models.get_model_info(uri).metadata.get("antelope_model", "its class")
        raise ConfigError(f"the model at {uri} is a {name}, which cannot be imported here ({error}); install "
                          f"its package or run from the folder its module is in (PYTHONPATH)") from None


def model_run_id(uri):
    """The id of the run that logged the model at `uri`."""
    import mlflow.models

    return mlflow.models.get_model_info(uri).run_id


def register_model(run_id, name):
    """A new version of the registered model `name` (created if need be) from the run's logged model;
    returns the version, also recorded as the run's tag `antelope.registered`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    outputs = _client().get_run(run_id).outputs
    models = [output.model_id for output in outputs.model_outputs] if outputs is not None else []
    if not models:
        raise ConfigError(f"register={name}: run {run_id} logged no model to register")
    try:
        version = mlflow.register_model(f"models:/{models[-1]}", name).version
    except MlflowException as error:
        raise ConfigError(f"register={name}: {redact(str(error.message).splitlines()[0])}") from None
    set_tags(run_id, {"antelope.registered": f"{name}/{version}"})
    return version


@dataclass
class DatasetInput:
    """One of a run's data: `name`, its `context` (train or eval), its `source` (a path or a name), a
    `digest` of its content (runs on different versions of a file differ there), and its `features` and
    `targets` (tensors: their shapes and dtypes are its schema)."""
    name: str
    context: str
    source: str
    digest: str
    features: object
    targets: object
    rows: int = None  # None: len(features); a streamed split's features are a sample of its rows


def log_datasets(run_id, inputs):
    """A run's DatasetInputs as MLflow dataset inputs, in one request."""
    from mlflow.entities import Dataset, DatasetInput as Input, InputTag
    from mlflow.types import Schema, TensorSpec

    def spec(tensor):
        import numpy

        return Schema([TensorSpec(numpy.dtype(str(tensor.dtype).removeprefix("torch.")),
                                  (-1, *tensor.shape[1:]))]).to_json()

    def entity(data):
        schema = {"mlflow_tensorspec": {"features": spec(data.features), "targets": spec(data.targets)}}
        rows = len(data.features) if data.rows is None else data.rows
        profile = {"num_rows": rows, "features_shape": [rows, *data.features.shape[1:]],
                   "targets_shape": [rows, *data.targets.shape[1:]]}
        local = os.path.exists(data.source)
        return Dataset(name=data.name, digest=data.digest, source_type="local" if local else "code",
                       source=json.dumps({"uri": redact(os.path.abspath(data.source) if local else data.source)}),
                       schema=json.dumps(schema), profile=json.dumps(profile))

    # MLflow's store looks a dataset up by (experiment, name, digest) and inserts it when missing, not atomically:
    # sweep workers starting trials on the same data at once race to insert it and all but one get a
    # unique-constraint error. The row exists by then, so the same request again links to it.
    from mlflow.exceptions import MlflowException

    request = [Input(entity(d), [InputTag("mlflow.data.context", d.context)]) for d in inputs]
    for attempt in range(_INSERT_RACE_ATTEMPTS):
        try:
            return _client().log_inputs(run_id, request)
        except MlflowException as error:
            if attempt + 1 == _INSERT_RACE_ATTEMPTS or not _lost_insert_race(error):
                raise


_INSERT_RACE_ATTEMPTS = 3


def _lost_insert_race(error):
    """Whether an MLflow error is a database's unique-constraint violation (SQLite, PostgreSQL, MySQL wording)."""
    message = str(error).lower()
    return "unique constraint" in message or "duplicate key" in message or "duplicate entry" in message


class SystemMetrics:
    """MLflow's system metrics (CPU, memory, disk, network; GPU utilisation and memory when there is one)
    recorded on run `run_id` while training, every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds (10 by
    default) under `system/` (`system/<node>/` with a `node`: one per torchrun process). A run shorter than
    one interval still gets the sample taken at its start."""

    def __init__(self, run_id, node=None, resumed=False):
        self.monitor = None
        if run_id is not None:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            with _quiet("mlflow.system_metrics"):
                self.monitor = SystemMetricsMonitor(run_id, node_id=node, resume_logging=resumed,
                                                    tracking_uri=tracking_uri(redacted=False))

    def __enter__(self):
        if self.monitor is not None:
            with _quiet("mlflow.system_metrics"):
                self.monitor.start()
        return self

    def __exit__(self, *error):
        if self.monitor is not None:
            with _quiet("mlflow.system_metrics"):
                self.monitor.finish()
            last = self.monitor.aggregate_metrics()  # what was sampled since the last write
            if last:
                try:
                    self.monitor.publish_metrics(last)
                    self.monitor.mlflow_logger.flush()
                except Exception:  # the server is away: the run's own metrics say so already
                    pass
        return False


# --- resuming -------------------------------------------------------------------------------------------

@dataclass
class Recorded:
    run_id: str
    config_yaml: str  # the run's recorded config.yaml
    tags: dict
    checkpoint: str = None  # the local path of its latest checkpoint; None: it stopped before its first one


def latest_run_id(experiment):
    """The id of the experiment's newest run (load=true)."""
    client = _client()
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], order_by=["attributes.start_time DESC"],
                              max_results=1) if found else []
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
        with open(client.download_artifacts(run_id, "config.yaml", tempfile.mkdtemp())) as file:
            return Recorded(run_id, file.read(), run.data.tags)
    except Exception:
        raise ConfigError(f"{key}={run_id!r}: run {run.info.run_name!r} has no config.yaml: it was not "
                          f"started by ml") from None


def resumable(run_id, checkpoints="checkpoints"):
    """A run to resume: its recorded config and latest checkpoint (None before its first); an error if it
    runs in a live process."""
    found = recorded(run_id, "resume")
    client = _client()
    previous = client.get_run(run_id)
    if previous.info.status == "RUNNING":
        close_stale_runs(previous.info.experiment_id)
        if client.get_run(run_id).info.status == "RUNNING":
            raise ConfigError(f"run {run_id} is RUNNING in a live process "
                              f"(pid {previous.data.tags.get('antelope.pid')}); stop it before resuming")
    found.checkpoint = latest_artifact(run_id, checkpoints)
    return found


def changes_since(tags):
    """What differs between the git commit and package versions recorded in a run's `tags` and this
    process's: ['torch 2.4.1 then, 2.5.1 now', ...]."""
    now = {f"{VERSION_TAG}{name}": str(v) for name, v in processes.package_versions().items()}
    now[COMMIT_TAG] = processes.git_commit(os.getcwd())
    return [f"{key.removeprefix(VERSION_TAG).replace(COMMIT_TAG, 'git commit')} {tags.get(key)} then, {value} now"
            for key, value in now.items() if tags.get(key) != str(value) and (key in tags or value)]


def latest_artifact(run_id, folder, suffix=".pt"):
    """The last by name of the run's artifacts `folder/*suffix` (checkpoints are named by their zero-padded
    step), as a local path (downloaded from a remote store); None when there is none."""
    client = _client()
    local = local_folder(client.get_run(run_id).info.artifact_uri)
    if local is not None:
        names = sorted(n for n in os.listdir(os.path.join(local, folder)) if n.endswith(suffix)) \
            if os.path.isdir(os.path.join(local, folder)) else []
        return os.path.join(local, folder, names[-1]) if names else None
    names = sorted(a.path for a in client.list_artifacts(run_id, folder) if a.path.endswith(suffix))
    return client.download_artifacts(run_id, names[-1], tempfile.mkdtemp()) if names else None


# --- a sweep: its parent run and its trials' child runs --------------------------------------------------

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
    with _refusals(client.tracking_uri, f"record runs in experiment {experiment!r}"):
        run_id = client.create_run(experiment_id_of(experiment), run_name=name, tags=tags).info.run_id
    client.log_batch(run_id, params=[Param(k, _param_value(v)) for k, v in params.items()])
    return run_id


def set_tags(run_id, tags):
    from mlflow.entities import RunTag

    _client().log_batch(run_id, tags=[RunTag(k, redact(v)) for k, v in tags.items()])


def log_metric(run_id, name, value, step):
    from mlflow.entities import Metric as MlflowMetric

    _client().log_batch(run_id, metrics=[MlflowMetric(name, value, int(time.time() * 1000), step)])


def end_run(run_id, status):
    """FINISHED, FAILED or KILLED."""
    _client().set_terminated(run_id, status)


def run_status(run_id):
    return _client().get_run(run_id).info.status


def run_tags(run_id):
    return _client().get_run(run_id).data.tags


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


def log_artifacts(run_id, path, folder=None):
    """A local file, or every file in a local folder, into the run's artifacts under `folder`."""
    client = _client()
    (client.log_artifacts if os.path.isdir(path) else client.log_artifact)(run_id, path, folder)


# --- reading results ------------------------------------------------------------------------------------

def search_runs(experiments=None, filter=None):
    """MLflow's own table of runs (`mlflow.search_runs`), oldest first, with an `experiment` column of
    names: every experiment's, or those named. Bad names and filters are one-line errors."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from .imports import did_you_mean

    _client()  # a server that does not answer is an error here, not a hang in MLflow's retries
    existing = {e.name: e.experiment_id for e in mlflow.search_experiments()}
    names = [experiments] if isinstance(experiments, str) else list(existing if experiments is None else experiments)
    for name in names:
        if name not in existing:
            raise ConfigError(f"unknown experiment {name!r}{did_you_mean(name, existing)}; experiments in "
                              f"{tracking_uri()}: {', '.join(sorted(existing)) or 'none'}")
    try:
        frame = mlflow.search_runs([existing[name] for name in names], filter or "",
                                   order_by=["attributes.start_time ASC"])
    except MlflowException as error:
        message = redact(str(error.message).splitlines()[0])
        raise ConfigError(f"bad filter {filter!r}: {message}; e.g. \"metrics.`eval/accuracy` > 0.9\" or "
                          f"\"params.`optim.lr` = '0.01'\" (backquote names with dots or slashes)") from None
    if not frame.empty:
        frame.insert(2, "experiment", frame["experiment_id"].map({i: name for name, i in existing.items()}))
    return frame


def metric_history(run_id, name):
    """{step: value} of one metric of a run, in step order."""
    return {m.step: m.value for m in sorted(_client().get_metric_history(run_id, name), key=lambda m: m.step)}
