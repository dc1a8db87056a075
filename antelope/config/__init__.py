"""The config room: the one home of every default (schema), composing both doors' overrides into one config
(compose), the override strings themselves (overrides) and the optimizer and scheduler options (optimizers).
Nothing here trains. Other rooms use what is listed here."""

from . import optimizers, overrides
from .composition import chosen_options, compose, experiment_name, normalize, recorded
from .schema import (
    BOOKKEEPING_KEYS,
    BUDGETS,
    DATA_KEYS,
    DEFAULT_MODEL,
    GROUPS,
    LR_DECAY_SCHEDULER,
    RL_KEYS,
    SHORTHANDS,
    START_KEYS,
    TRAINER_UPDATE_KEYS,
    Config,
    keys,
)

__all__ = [
    "optimizers",
    "overrides",
    "chosen_options",
    "compose",
    "experiment_name",
    "normalize",
    "recorded",
    "BUDGETS",
    "DATA_KEYS",
    "DEFAULT_MODEL",
    "GROUPS",
    "LR_DECAY_SCHEDULER",
    "BOOKKEEPING_KEYS",
    "RL_KEYS",
    "SHORTHANDS",
    "START_KEYS",
    "TRAINER_UPDATE_KEYS",
    "Config",
    "keys",
]
