"""A run's trained model as an MLflow logged model: saved, linked to the run and its final metrics, loaded back
(`antelope.load`, `runs:/<id>/model`), and registered in MLflow's model registry."""

import os
import shutil
import sys
import tempfile

from .. import processes
from ..errors import ConfigError
from .client import client as _client
from .client import quiet, redact, tracking_uri
from .runs import param_value, set_tags

MODEL = "model"  # the name of a run's logged model: runs:/<run_id>/model


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

    from ..imports import FILE_MODULE_PREFIX

    for name, module in list(sys.modules.items()):
        if name.startswith(FILE_MODULE_PREFIX):
            cloudpickle.register_pickle_by_value(module)


def log_model(run, model, example, step, params, tags, metrics):
    """The trained model as an MLflow Model named `MODEL`, so that runs:/<run_id>/model loads it, linked
    to the open `run` (a runs.Run) and to its `metrics` (names) at `step` (written first). `example`: (inputs,
    outputs) as numpy arrays for its signature and input example; None when its forward does not take the data.
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

    run.close_metrics()  # written first: the model links to the final metrics
    _pickle_by_value_what_cannot_be_imported()
    failure = logged = None
    try:
        logged = run.client.create_logged_model(
            run.experiment_id, MODEL, run.run_id, tags=tags, params={k: param_value(v) for k, v in params.items()}
        )
    except Exception as error:  # connection or HTTP errors from the store
        failure = error
    described = (
        Model(
            artifact_path=logged.artifact_location,
            run_id=run.run_id,
            model_uuid=logged.model_id,
            model_id=logged.model_id,
        )
        if logged is not None
        else None
    )
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, MODEL)
        try:
            with quiet("mlflow.pytorch"):  # its warning that pickles run code when loaded: as any checkpoint
                mlflow.pytorch.save_model(
                    model,
                    path,
                    mlflow_model=described,
                    serialization_format="pickle",
                    signature=infer_signature(*example) if example is not None else None,
                    input_example=example[0] if example is not None else None,
                    pip_requirements=_requirements(model),
                    metadata={"antelope_model": tags["antelope.model"]},
                )
        except Exception as error:  # a model that cannot be pickled
            print(
                f"ml: warning: could not save the model as an MLflow Model ({type(error).__name__}: {error}); "
                f"its weights are in the run's checkpoints",
                file=sys.stderr,
            )
            if logged is not None:
                run.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            return None
        if logged is not None:
            try:
                run.client.log_model_artifacts(logged.model_id, path)
                run.client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step)])
                final = [
                    Metric(m.key, m.value, m.timestamp, m.step, model_id=logged.model_id)
                    for name in metrics
                    for m in run.client.get_metric_history(run.run_id, name)
                    if m.step == step
                ]
                run.client.log_batch(run.run_id, metrics=final)  # the same points, now the model's too
                run.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
                return logged.model_id
            except Exception as error:
                failure = error
        kept = os.path.abspath(f"unrecorded-model-{run.run_id}")
        shutil.rmtree(kept, ignore_errors=True)
        shutil.move(path, kept)
    print(
        f"ml: warning: could not record the model on the tracking server ({type(failure).__name__}); "
        f"it is saved in {kept} (mlflow.pytorch.load_model({kept!r}) loads it)",
        file=sys.stderr,
    )
    return None


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
        raise ConfigError(
            f"no model at {uri} in {tracking_uri()} ({reason}); give a run id, runs:/<run_id>/model "
            f"or models:/<name>/<version>"
        ) from None
    except (ModuleNotFoundError, AttributeError) as error:  # unpickling found no module or class by that name
        import mlflow.models

        name = (mlflow.models.get_model_info(uri).metadata or {}).get("antelope_model", "its class")
        raise ConfigError(
            f"the model at {uri} is a {name}, which cannot be imported here ({error}); install "
            f"its package or run from the folder its module is in (PYTHONPATH)"
        ) from None


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
