"""The config room: the one home of every default (schema), composing both doors' overrides into one config
(compose), the override strings themselves (overrides) and the optimizer and scheduler options (optimizers).
Nothing here trains. Other rooms use what is listed here."""

from . import optimizers, overrides
from .composition import chosen_options, compose, experiment_name, normalize, recorded
from .schema import BUDGETS, DEFAULT_MODEL, GROUPS, LR_DECAY_SCHEDULER, Config, keys

__all__ = [
    "optimizers",
    "overrides",
    "chosen_options",
    "compose",
    "experiment_name",
    "normalize",
    "recorded",
    "BUDGETS",
    "DEFAULT_MODEL",
    "GROUPS",
    "LR_DECAY_SCHEDULER",
    "Config",
    "keys",
]
