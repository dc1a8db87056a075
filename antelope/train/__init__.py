"""The loop room: the training loop (trainer) and what it calls: the update (update), the log and its progress
line (log, progress), evaluation (evaluate, generative), checkpoints (checkpoint), signals (interrupts), threads
(threads), torchrun's processes (distributed), and the model `model=` names (model). The loop takes plain values
and objects: it knows nothing of the config's machinery, MLflow or Optuna. Other rooms use what is listed here."""

from . import checkpoint, distributed, threads
from .evaluation import evaluate
from .generative import Evaluation as GenerativeEvaluation
from .interrupts import REQUEUE, Interrupted, stop_requests
from .log import Log
from .model import build, optimizes_itself, own_optimizers, own_settings, resolve
from .progress import Progress
from .trainer import Schedule, train
from .update import Update

__all__ = [
    "checkpoint",
    "distributed",
    "threads",
    "evaluate",
    "GenerativeEvaluation",
    "REQUEUE",
    "Interrupted",
    "stop_requests",
    "Log",
    "build",
    "optimizes_itself",
    "own_optimizers",
    "own_settings",
    "resolve",
    "Progress",
    "Schedule",
    "train",
    "Update",
]
