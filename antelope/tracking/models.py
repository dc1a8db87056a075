"""A run's trained models as MLflow logged models: one per evaluation (named by its step, its evaluation metrics
linked to it), the one the run keeps as `model` (runs:/<id>/model), deleted with their files when no longer kept,
loaded back (`antelope.load`, `runs:/<id>/model`) and registered in MLflow's model registry.

A model is saved as "pt2" (torch.export: MLflow loads it, and `mlflow models serve` serves it, without unpickling
code, also with MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false) when it exports with the run's input example, and only
otherwise as "pickle"; the format is its tag `antelope.format`. A pt2 model also holds its module pickled
(antelope_model.pth, beside MLflow's files), so that `antelope.load` and a fork (`model=runs:/<id>/model`) get its
own class, `learn` and all, where pickles may be loaded (MLflow's MLFLOW_ALLOW_PICKLE_DESERIALIZATION, true by
default)."""

import copy
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import processes
from ..errors import ConfigError
from .client import client as _client
from .client import quiet, redact, tracking_uri
from .runs import param_value, set_tags

MODEL = "model"  # the name of the model a run keeps: runs:/<run_id>/model
STEP, FORMAT = "antelope.step", "antelope.format"  # a logged model's tags: the step it was evaluated at, its format
PICKLED = "antelope_model.pth"  # a pt2 model's module, pickled, in its folder


@dataclass(frozen=True)
class Logged:
    """A run's logged model: its id, name, the step it was evaluated at, its format and its linked metrics."""

    model_id: str
    name: str
    step: int
    format: str
    metrics: dict = field(default_factory=dict)


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


@contextmanager
def _requirements_unchecked():
    """MLflow's save_model checks the given requirements against the installed packages, and to find which
    module is which package it first reads every installed distribution's file list: 1.5 s of a one-step run,
    once per process (tests/benchmarks/bench_start.py). Ours are the running environment's own versions
    (`_requirements`), so the check can never find a mismatch: it is skipped while our models are saved.
    `warn_dependency_requirement_mismatches` of `mlflow.utils.environment` is the one name of MLflow's
    internals this project replaces (mlflow < 4 in pyproject.toml; tests/test_keeping.py checks that save_model
    still calls it there, and that this quiets it)."""
    import mlflow.utils.environment as environment

    check = environment.warn_dependency_requirement_mismatches
    environment.warn_dependency_requirement_mismatches = lambda model_requirements: None
    try:
        yield
    finally:
        environment.warn_dependency_requirement_mismatches = check


def _pickle_by_value_what_cannot_be_imported():
    """Classes of a `model=path/to/file.py:Net` are in a module no other process can import by name:
    cloudpickle (MLflow's pickler for PyTorch) then stores them by value, as it does a script's classes."""
    import cloudpickle

    from ..imports import FILE_MODULE_PREFIX

    for name, module in list(sys.modules.items()):
        if name.startswith(FILE_MODULE_PREFIX):
            cloudpickle.register_pickle_by_value(module)


def _on_the_cpu(model):
    """The model as torch.export sees it with the input example (numpy, so on the CPU): itself, or a CPU copy."""
    if all(p.device.type == "cpu" for p in [*model.parameters(), *model.buffers()]):
        return model
    return copy.deepcopy(model).cpu()


def _save(model, path, example, metadata, logged, export):
    """The MLflow Model of `model` in folder `path`: "pt2" when `export` and it exports, else "pickle". Returns
    (its format, why it is not pt2: None when it is, or when export was not asked for)."""
    from mlflow.models import Model, infer_signature

    def described():  # a fresh description per attempt: save_model writes its flavors into it
        if logged is None:
            return None
        return Model(
            artifact_path=logged.artifact_location,
            run_id=logged.source_run_id,
            model_uuid=logged.model_id,
            model_id=logged.model_id,
        )

    common = dict(
        signature=infer_signature(*example) if example is not None else None,
        input_example=example[0] if example is not None else None,
        pip_requirements=_requirements(model),
        metadata=metadata,
    )
    with _requirements_unchecked():
        return _save_as(model, path, export, example, described, common)


def _save_as(model, path, export, example, described, common):
    """`_save`'s attempts: pt2 first when `export`, else or then pickle."""
    import cloudpickle
    import mlflow.pytorch
    import torch

    why = None
    if export and example is None:
        why = "its forward does not take the data's samples"
    elif export:
        try:
            mlflow.pytorch.save_model(
                _on_the_cpu(model), path, mlflow_model=described(), serialization_format="pt2", **common
            )
            torch.save(model, os.path.join(path, PICKLED), pickle_module=cloudpickle)
            return "pt2", None
        except Exception as error:  # torch.export's many errors: data-dependent control flow, unsupported ops
            shutil.rmtree(path, ignore_errors=True)
            detail = str(error).strip().splitlines()
            why = f"torch.export could not export it: {type(error).__name__}: {detail[0][:160] if detail else ''}"
    with quiet("mlflow.pytorch"):  # its warning that pickles run code when loaded: said by antelope instead
        mlflow.pytorch.save_model(model, path, mlflow_model=described(), serialization_format="pickle", **common)
    return "pickle", why


def log_model(run, model, example, name, step, params, tags, export=True):
    """`model` as a logged model of the open `run` (a runs.Run) named `name`, evaluated at `step`; returns (a
    Logged, or None when it could not be recorded: said in one line; why it is not pt2, or None). `example`:
    (inputs, outputs) as numpy arrays, its signature and input example (None when its forward does not take the
    data); `export`: try pt2 first. Its metrics are linked by the caller (runs.Run.link_model).

    Saved with `mlflow.pytorch.save_model` and recorded with the client's logged-model calls rather than
    `mlflow.pytorch.log_model`: that one checks the input example by loading the model back in this
    process, and unpickling a class pickled by value here rebinds its methods to copies of what they
    closed over (cloudpickle keeps one class per process), so a script's model class would no longer
    see the script's own objects after its first run."""
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus

    _pickle_by_value_what_cannot_be_imported()
    try:
        logged = run.client.create_logged_model(
            run.experiment_id,
            name,
            run.run_id,
            tags={**tags, STEP: str(step)},
            params={k: param_value(v) for k, v in params.items()},
        )
    except Exception as error:  # connection or HTTP errors from the store
        _say_unrecorded(name, error)
        return None, None
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, MODEL)
        try:
            saved, why = _save(model, path, example, {"antelope_model": tags["antelope.model"]}, logged, export)
        except Exception as error:  # a model that cannot be pickled either
            print(
                f"ml: warning: could not save the model of step {step} as an MLflow Model ({type(error).__name__}: "
                f"{error}); its weights are in the run's checkpoints",
                file=sys.stderr,
            )
            run.client.finalize_logged_model(logged.model_id, LoggedModelStatus.FAILED)
            return None, None
        try:
            run.client.set_logged_model_tags(logged.model_id, {FORMAT: saved})
            run.client.log_model_artifacts(logged.model_id, path)
            run.client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, step)])
            run.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
        except Exception as error:
            _say_unrecorded(name, error)
            return None, why
    return Logged(logged.model_id, name, step, saved), why


def _say_unrecorded(name, error):
    print(
        f"ml: warning: could not record model {name} on the tracking server ({type(error).__name__}); its "
        f"weights are in the run's checkpoints",
        file=sys.stderr,
    )


def keep_model_locally(run, model, example, tags):
    """When the tracking server cannot take the run's model: saved into a local folder, said where."""
    kept = os.path.abspath(f"unrecorded-model-{run.run_id}")
    shutil.rmtree(kept, ignore_errors=True)
    saved, _ = _save(model, kept, example, {"antelope_model": tags["antelope.model"]}, None, True)
    print(
        f"ml: warning: could not record the model on the tracking server; it is saved in {kept} "
        f"(mlflow.pytorch.load_model({kept!r}) loads it)",
        file=sys.stderr,
    )
    return kept


def copy_model(run, source, name, tags):
    """A copy of `source` (a Logged of `run`) named `name`, with its step, params, tags and linked metrics;
    returns the copy's Logged (None when it could not be recorded: said in one line)."""
    import mlflow.artifacts
    from mlflow.entities import LoggedModelOutput, LoggedModelStatus, Metric

    run.flush_metrics()  # the source's metrics are linked to it as they are written
    try:
        original = run.client.get_logged_model(source.model_id)
        logged = run.client.create_logged_model(
            run.experiment_id, name, run.run_id, tags={**original.tags, **tags}, params=original.params
        )
        with tempfile.TemporaryDirectory() as folder, quiet("mlflow"):
            path = mlflow.artifacts.download_artifacts(f"models:/{source.model_id}", dst_path=folder)
            _point_at(path, logged)
            run.client.log_model_artifacts(logged.model_id, path)
        run.client.log_outputs(run.run_id, [LoggedModelOutput(logged.model_id, source.step)])
        points = [
            Metric(m.key, m.value, m.timestamp, m.step, model_id=logged.model_id)
            for m in original.metrics or []
            if m.step == source.step
        ]
        if points:
            run.client.log_batch(run.run_id, metrics=points)  # the same points, now the copy's too
        run.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY)
    except Exception as error:
        _say_unrecorded(name, error)
        return None
    return Logged(logged.model_id, name, source.step, source.format, dict(source.metrics))


def _point_at(path, logged):
    """The MLmodel file of a copied model names the copy (its id and artifact location), not the original."""
    from mlflow.models import Model

    described = Model.load(path)
    described.model_id = described.model_uuid = logged.model_id
    described.artifact_path = logged.artifact_location
    described.save(os.path.join(path, "MLmodel"))


def delete_model(run, model_id):
    """A logged model of `run` deleted, its files too (MLflow's delete only marks the record)."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from .runs import local_folder

    try:
        location = run.client.get_logged_model(model_id).artifact_location
        run.client.delete_logged_model(model_id)
        local = local_folder(location)
        if local is not None:
            shutil.rmtree(local, ignore_errors=True)
        else:
            get_artifact_repository(location).delete_artifacts()
    except Exception as error:  # the server is away: the model stays, which costs space, not correctness
        print(f"ml: warning: could not delete model {model_id} ({type(error).__name__})", file=sys.stderr)


def run_models(run_id, client=None):
    """The logged models of a run (not deleted), oldest step first."""
    client = client or _client()
    experiment_id = client.get_run(run_id).info.experiment_id
    found, token = [], None
    while True:
        page = client.search_logged_models(
            experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'", page_token=token
        )
        found += page
        token = page.token
        if not token:
            break
    return sorted(
        (
            Logged(
                m.model_id,
                m.name,
                int(m.tags[STEP]),
                m.tags.get(FORMAT, "pickle"),
                {p.key: p.value for p in m.metrics or [] if p.step == int(m.tags[STEP])},
            )
            for m in found
            if STEP in m.tags
        ),
        key=lambda logged: logged.step,
    )


def is_model_uri(text):
    """Whether `model=` names a logged model (a fork of another run) rather than a class."""
    return isinstance(text, str) and text.startswith(("runs:/", "models:/"))


def model_uri(run_or_uri):
    """'runs:/<id>/model' for a run id; a model URI as it is."""
    return run_or_uri if is_model_uri(run_or_uri) else f"runs:/{run_or_uri}/{MODEL}"


def load_model(run_or_uri, device=None):
    """The trained nn.Module of a run (its id) or at a model URI (runs:/<id>/model, models:/<name>/<version>,
    models:/<model id>), on `device` (default: where it was trained, CPU when that is absent here): its own
    class, unpickled; with MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false, a pt2 model's exported graph (forward only,
    said in one line) and a pickled one refused."""
    import mlflow.artifacts
    import mlflow.pytorch
    import torch
    from mlflow.environment_variables import MLFLOW_ALLOW_PICKLE_DESERIALIZATION
    from mlflow.exceptions import MlflowException

    uri = model_uri(run_or_uri)
    _client()  # a server that does not answer is an error here, not a hang in MLflow's retries
    if device is None and not torch.cuda.is_available():
        device = "cpu"
    try:
        with tempfile.TemporaryDirectory() as folder, quiet("mlflow"):
            path = mlflow.artifacts.download_artifacts(uri, dst_path=folder)
            pickled = os.path.join(path, PICKLED)
            if not os.path.exists(pickled):  # saved as pickle: MLflow's loader (it checks the switch itself)
                return mlflow.pytorch.load_model(path, map_location=device)
            if MLFLOW_ALLOW_PICKLE_DESERIALIZATION.get():
                return torch.load(pickled, map_location=device, weights_only=False).eval()
            print(
                f"ml: MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false: {uri} loaded as its exported graph (forward only, "
                f"not its class)",
                file=sys.stderr,
            )
            return mlflow.pytorch.load_model(path, map_location=device)
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
    """A new version of the registered model `name` (created if need be) from the run's model (`MODEL`);
    returns the version, also recorded as the run's tag `antelope.registered`."""
    import mlflow
    from mlflow.exceptions import MlflowException

    kept = [logged for logged in run_models(run_id) if logged.name == MODEL]
    if not kept:
        raise ConfigError(f"register={name}: run {run_id} logged no model to register")
    try:
        version = mlflow.register_model(f"models:/{kept[-1].model_id}", name).version
    except MlflowException as error:
        raise ConfigError(f"register={name}: {redact(str(error.message).splitlines()[0])}") from None
    set_tags(run_id, {"antelope.registered": f"{name}/{version}"})
    return version
