"""The data room: datasets by name (datasets; tables read and checked: tables), each sample read (samples),
held in memory (replay) or streamed by worker processes (stream), transformed (transforms, augment), described
(spec), and fed to a run whole (feed); for reinforcement learning, the environment (environment) and its replay
buffer. Nothing here knows of the config's machinery, MLflow or Optuna. Other rooms use what is listed here."""

from .augment import AUGMENTATIONS
from .datasets import Data, Split, as_float, open_splits
from .environment import Environment
from .feed import Feed, Reading
from .replay import Batch, Replay, ReplayBuffer, Transition
from .samples import classifies, into_memory, load
from .spec import Datum, Spec, generative, spec_of

__all__ = [
    "AUGMENTATIONS",
    "Data",
    "Split",
    "as_float",
    "open_splits",
    "Environment",
    "Feed",
    "Reading",
    "Batch",
    "Replay",
    "ReplayBuffer",
    "Transition",
    "classifies",
    "into_memory",
    "load",
    "Datum",
    "Spec",
    "generative",
    "spec_of",
]
