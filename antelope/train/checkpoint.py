"""Checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, the trainer's optimizer, scheduler and grad scaler, any optimizer or scheduler the
model keeps itself (`self.optim`), the replay's order, position and random state, the global random state, the
metrics not yet averaged, the step and the MLflow run id. It is written every `save_per_steps`, at each evaluation
(the end's too) and on SIGINT/SIGTERM, atomically (written beside, then renamed) into the run's artifacts under
`checkpoints/`, keeping the last `keep_checkpoints` and the one of the step whose model the run keeps
(antelope.run.keeping). It holds only tensors and plain containers, so it loads with `torch.load(weights_only=True)`.
"""

import os
import re
import sys
import tempfile

import torch

from ..errors import ConfigError
from .model import own_optimizers

FOLDER = "checkpoints"
_NAME = re.compile(r"^step_(\d+)\.pt$")


def state(step, model, update, replay, log, metrics, run_id):
    return {
        "step": step,
        "run_id": run_id,
        "metrics": dict(metrics),
        "model": model.state_dict(),
        "update": update.state_dict(),
        "own": {name: value.state_dict() for name, value in own_optimizers(model).items()},
        "replay": replay.state_dict(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "log": log.pending(),
    }


def restore(checkpoint, model, update, replay):
    """Load a checkpoint's state into freshly built pieces; returns (step, metrics, the log's pending values)."""
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        detail = str(error).strip().splitlines()
        raise ConfigError(
            f"the checkpoint does not fit {type(model).__name__}: {detail[1].strip() if len(detail) > 1 else detail[0]}"
        ) from None
    update.load_state_dict(checkpoint["update"])
    for name, value in own_optimizers(model).items():
        value.load_state_dict(checkpoint["own"][name])
    replay.load_state_dict(checkpoint["replay"])
    torch.set_rng_state(checkpoint["rng"])
    if checkpoint["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(checkpoint["cuda_rng"])
    return checkpoint["step"], checkpoint["metrics"], checkpoint["log"]


def save(folder, checkpoint, keep, also=None):
    """Write `checkpoint` as folder/step_N.pt atomically; delete all but the newest `keep` and step `also`'s."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"step_{checkpoint['step']:09d}.pt")
    handle, partial = tempfile.mkstemp(dir=folder, suffix=".partial")
    os.close(handle)
    torch.save(checkpoint, partial)
    os.replace(partial, path)  # atomic: a reader sees the old set or the new file, never half a file
    for old in sorted(_steps(folder))[:-keep]:
        if old == also:
            continue
        os.remove(os.path.join(folder, f"step_{old:09d}.pt"))
    return path


def save_in_run(run, state, keep, also=None):
    """Into the run's artifact folder when it is local (atomic rename there), else uploaded."""
    folder = run.local_artifact_folder()
    if folder is not None:
        save(os.path.join(folder, FOLDER), state, keep, also)
        return
    with tempfile.TemporaryDirectory() as scratch:
        path = save(scratch, state, keep)
        try:
            run.log_artifact(path, FOLDER)
            uploaded = _steps_of(run.artifact_names(FOLDER))
            for old in sorted(uploaded)[:-keep]:  # the store keeps as many as a local folder would
                if old != also:
                    run.delete_artifact(f"{FOLDER}/step_{old:09d}.pt")
        except Exception as error:  # connection or HTTP errors from the artifact store
            print(
                f"ml: warning: checkpoint at step {state['step']} not uploaded, or older ones not deleted "
                f"({type(error).__name__})",
                file=sys.stderr,
            )


def _steps(folder):
    return _steps_of(os.listdir(folder) if os.path.isdir(folder) else [])


def _steps_of(names):
    return [int(m.group(1)) for m in map(_NAME.match, names) if m]


def latest(folder):
    """The path of the newest checkpoint in `folder`, or None."""
    steps = _steps(folder)
    return os.path.join(folder, f"step_{max(steps):09d}.pt") if steps else None


def load(path, device):
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # a truncated or foreign file: pickle, zip and torch raise many types
        detail = str(error).strip().splitlines()[0][:120] if str(error).strip() else "corrupt file"
        raise ConfigError(f"cannot load checkpoint {path}: {type(error).__name__}: {detail}") from None
