"""Composing a run's config: both doors become the same list of Hydra override strings (`optim=SGD`,
`optim.lr=0.01`), composed by Hydra's compose API against `Config` (antelope.config.schema), the aliases and
shorthands applied, every value checked. `ml --cfg` prints the composed result.
"""

import os
import warnings

from ..errors import ConfigError
from ..imports import did_you_mean
from . import optimizers
from . import overrides as lines
from .schema import (
    BUDGETS,
    DEFAULT_BUDGET,
    DEFAULT_OPTIONS,
    GENERATIVE_ADAM,
    GROUPS,
    LR_DECAY_SCHEDULER,
    RANDOM_STEPS,
    Config,
    keys,
)

_OPEN_MAPS = (
    "slurm.sbatch",
    "sweep.slurm.sbatch",
)  # the user's own mappings: `key={...}` replaces one, `key.name=v` adds to it
_CHOICES = {
    "scheduler_interval": ("epoch", "step"),
    "precision": ("fp32", "bf16", "fp16"),
    "bad_samples": ("error", "skip"),
    "keep_model": ("best", "last"),
    "launcher": ("local", "slurm"),
}
_POSITIVE = (
    "train_steps",
    "epochs",
    "batch_size",
    "log_per_steps",
    "lr_decay_epochs",
    "grad_accumulation",
    "save_per_steps",
    "keep_checkpoints",
    "evaluate_episodes",
    "nstep",
    "replay_capacity",
    "envs",
    "learn_per_steps",
    "threads",
)


def compose(overrides):
    """The composed, validated config for a list of override strings, and the keys given explicitly."""
    optimizers.register_options()
    overrides = normalize(overrides)
    explicit = {lines.key(o) for o in overrides}
    overrides = overrides + _implied(explicit)
    for line in overrides:
        if lines.parse(line).is_sweep_override():
            raise ConfigError(f"{line!r} is a sweep expression: it requires --multirun (ml -m ...)")
    groups = tuple(line for line in overrides if lines.key(line) in GROUPS)
    cfg = _composed(groups, overrides)
    _apply([line for line in overrides if lines.key(line) not in GROUPS], cfg, overrides)
    _apply_shorthands(cfg, explicit)
    _validate(cfg, explicit)
    _apply_rl_defaults(cfg, explicit)
    _apply_generative_defaults(cfg, explicit)
    return cfg, explicit


def _apply_generative_defaults(cfg, explicit):
    """With generate=true and the trainer's default Adam: GENERATIVE_ADAM's lr and betas, unless given."""
    if not cfg.generate or "optim" in explicit:
        return
    for key, value in GENERATIVE_ADAM.items():
        if f"optim.{key}" not in explicit and not (key == "lr" and "lr" in explicit):
            cfg.optim[key] = value


_COMPOSED: dict[tuple, bytes] = {}  # group choices (e.g. ('optim=SGD',)) -> the config Hydra composed for them, pickled


def _composed(groups, overrides):
    """A copy of the config Hydra composes for these group choices (`optim=SGD`). Hydra composes once per
    choice of groups and process: composing inspects the call stack and rebuilds the defaults tree, which
    a sweep would pay for every trial. The copy is unpickled, which is faster than a deep copy (OmegaConf
    pickles a config with its structured type and struct flag)."""
    import pickle

    from hydra import compose as hydra_compose
    from hydra import initialize
    from hydra.core.config_store import ConfigStore
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if groups not in _COMPOSED:
        ConfigStore.instance().store(name="antelope", node=Config)
        try:
            with initialize(version_base=None, config_path=None):
                _COMPOSED[groups] = pickle.dumps(hydra_compose("antelope", overrides=list(groups)))
        except (HydraException, OmegaConfBaseException) as error:
            raise ConfigError(_explain(error, overrides)) from None
    return pickle.loads(_COMPOSED[groups])


def _apply(values, cfg, overrides):
    """The value overrides (`optim.lr=0.01`, `++model.depth=3`) applied to a composed config, with
    OmegaConf's public `update` (the struct flag makes an unknown key an error)."""
    from omegaconf import OmegaConf, open_dict
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    for line in values:
        override = lines.parse(line)
        key = override.key_or_group
        try:
            if override.is_delete():  # ~model.<argument>: drop a constructor argument given before
                parent, _, leaf = key.rpartition(".")
                node = OmegaConf.select(cfg, parent)
                with open_dict(node):
                    del node[leaf]
            else:
                OmegaConf.update(
                    cfg,
                    key,
                    override.value(),
                    merge=key not in _OPEN_MAPS,
                    force_add=override.is_add() or override.is_force_add(),
                )
        except (ConfigAttributeError, ConfigKeyError):
            raise ConfigError(f"unknown config key {key!r}{_close_key(key, overrides)}; see ml --help") from None
        except OmegaConfBaseException as error:
            raise ConfigError(f"bad value for {key}: {str(error).strip().splitlines()[0]}") from None


def normalize(overrides):
    """Rewrite the aliases into plain Hydra overrides: `agent=X`/`model=X` -> `model._target_=X`, and
    `model.k=v` -> `++model.k=v` (constructor arguments are the user's own keys, so they may be new);
    `augment=flip` is `augment=[flip]`."""
    result, keys = [], set()
    for line in overrides:
        override = lines.parse(line)
        key, value_text = override.key_or_group, line.split("=", 1)[-1]
        if line.startswith(("+", "~")) and not key.startswith(("model.", "agent.")):
            raise ConfigError(
                f"{line!r}: keys cannot be added or deleted (only model.<argument>=value adds "
                f"one); see ml --help for the keys"
            )
        if key in ("model", "agent"):
            if "model" in keys:
                raise ConfigError(f"the model is given twice ({line!r}): model= and agent= are the same key")
            keys.add("model")
            line = f"model._target_={value_text}"
        elif key.startswith(("model.", "agent.")):
            line = f"++model.{key.split('.', 1)[1]}={value_text}"
        elif key.startswith(tuple(f"{open_map}." for open_map in _OPEN_MAPS)):
            line = f"++{key}={value_text}"  # an entry of the user's own mapping
        elif key in ("optim", "scheduler") and not override.is_sweep_override():
            optimizers.check_option(key, str(override.value()))
        elif (
            key in ("augment", "transform", "eval_transform")
            and not override.is_sweep_override()
            and isinstance(override.value(), (str, dict))
        ):
            line = f"{key}=[{value_text}]"  # one item is a list of one
        keys.add(key)
        result.append(line)
    return result


def _implied(explicit):
    """The overrides that the keys given imply, not counted as given: `lr_decay_epochs=N` without a
    scheduler picks its scheduler; RL anneals the lr to 0 over train_steps (as cleanrl's anneal_lr)
    unless a scheduler is given: at a constant lr a Q-learner's greedy policy keeps swinging between good
    and bad, and the run ends wherever the swing is."""
    if "lr_decay_epochs" in explicit and "scheduler" not in explicit:
        return [f"scheduler={LR_DECAY_SCHEDULER}"]
    if "env" not in explicit or "scheduler" in explicit:
        return []
    implied = [f"scheduler={LR_DECAY_SCHEDULER}"]  # T_max: _apply_rl_defaults, once train_steps is known
    return implied + ([] if "scheduler_interval" in explicit else ["scheduler_interval=step"])


def _apply_shorthands(cfg, explicit):
    if cfg.lr is not None:
        if "optim.lr" in explicit:
            warnings.warn(f"lr={cfg.lr} is not used: optim.lr={cfg.optim.lr} was given explicitly", stacklevel=3)
        elif "lr" not in cfg.optim:
            raise ConfigError(f"lr={cfg.lr} cannot be applied: optim={cfg.optim._target_} has no lr argument")
        else:
            cfg.optim.lr = cfg.lr
    if cfg.lr_decay_epochs is not None:
        if cfg.scheduler.get("_target_", "").rsplit(".", 1)[-1] != LR_DECAY_SCHEDULER:
            warnings.warn(
                f"lr_decay_epochs={cfg.lr_decay_epochs} is not used: scheduler="
                f"{cfg.scheduler.get('_target_', 'none')} was given explicitly",
                stacklevel=3,
            )
        elif "scheduler.T_max" in explicit:
            warnings.warn(
                f"lr_decay_epochs={cfg.lr_decay_epochs} is not used: scheduler.T_max="
                f"{cfg.scheduler.T_max} was given explicitly",
                stacklevel=3,
            )
        else:
            cfg.scheduler.T_max = cfg.lr_decay_epochs


def _apply_rl_defaults(cfg, explicit):
    """With env=: the env's budget unless train_steps is given, random_steps a tenth of it (at most
    RANDOM_STEPS), and the implied cosine schedule over the optimizer steps that budget makes."""
    if cfg.env is None:
        for key in ("envs", "learn_per_steps"):
            if key in explicit and cfg[key] != 1:
                raise ConfigError(f"{key}={cfg[key]} applies to reinforcement learning; it needs env=")
        return
    if "train_steps" not in explicit:
        cfg.train_steps = BUDGETS.get(cfg.env, DEFAULT_BUDGET)
    if cfg.random_steps is None:
        cfg.random_steps = min(RANDOM_STEPS, cfg.train_steps // 10)
    elif cfg.random_steps < 0:
        raise ConfigError(f"random_steps={cfg.random_steps} must be >= 0")
    elif cfg.random_steps >= cfg.train_steps:
        raise ConfigError(
            f"random_steps={cfg.random_steps} is all of train_steps={cfg.train_steps}: the model "
            f"would never act; give random_steps below train_steps, or leave it out"
        )
    if "scheduler" not in explicit and "scheduler.T_max" not in explicit and "lr_decay_epochs" not in explicit:
        cfg.scheduler.T_max = -(-cfg.train_steps // cfg.learn_per_steps)  # optimizer steps: one per learn


def _validate(cfg, explicit):
    for key, choices in _CHOICES.items():
        if cfg[key] not in choices:
            raise ConfigError(f"{key}={cfg[key]!r} is not valid: choose one of {', '.join(choices)}")
    for key in _POSITIVE:
        if cfg[key] is not None and cfg[key] <= 0:
            raise ConfigError(f"{key}={cfg[key]} must be a positive integer")
    if cfg.evaluate_per_steps < 0:
        raise ConfigError(f"evaluate_per_steps={cfg.evaluate_per_steps} must be >= 0 (0: evaluate only at the end)")
    if "keep_model" in explicit and cfg.keep_model == "best" and cfg.evaluate_per_steps == 0:
        raise ConfigError(
            "keep_model=best picks the best of a run's evaluations, and evaluate_per_steps=0 evaluates once, at "
            "the end: give evaluate_per_steps=N, or keep_model=last"
        )
    for key in ("nodes", "tasks_per_node", "time", "cpus"):
        if cfg.slurm[key] < 1:
            raise ConfigError(f"slurm.{key}={cfg.slurm[key]} must be at least 1")
    if cfg.slurm.gpus < 0:
        raise ConfigError(f"slurm.gpus={cfg.slurm.gpus} must be at least 0 (GPUs per node)")
    if "epochs" in explicit and "train_steps" in explicit:
        raise ConfigError(f"give either train_steps={cfg.train_steps} or epochs={cfg.epochs}, not both")
    from ..data import AUGMENTATIONS  # the data room imports torch: when a config is checked, not at import

    unknown = [name for name in cfg.augment if name not in AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"augment={unknown[0]!r} is not valid: choose from {', '.join(AUGMENTATIONS)}")
    size = cfg.image_size
    sizes = list(size) if isinstance(size, (list, tuple)) or type(size).__name__ == "ListConfig" else [size]
    if size is not None and not (len(sizes) in (1, 2) and all(isinstance(n, int) and n > 0 for n in sizes)):
        raise ConfigError(f"image_size={size} is not valid: give N (a positive integer) or [H,W]")
    if cfg.data_workers is not None and cfg.data_workers < 0:
        raise ConfigError(f"data_workers={cfg.data_workers} must be >= 0 (0: read in the training process)")
    device = cfg.device
    if not (device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:") and device[5:].isdigit()):
        raise ConfigError(f"device={device!r} is not valid: choose auto, cpu, cuda, cuda:N or mps")


def _explain(error, overrides):
    """One line for an error of Hydra's composition of the groups: the bad option and what would be valid."""
    message = str(error)
    if "Could not find '" in message:
        group = message.split("Could not find '", 1)[1].split("/", 1)[0]
        return f"unknown {group} option; choose one of {', '.join(optimizers.options(group))}"
    return message.strip().splitlines()[0]


def _close_key(key, overrides):
    """' (did you mean ...)' for an unknown key: among the top-level keys, or for `optim.<arg>` among the
    arguments of the optimizer chosen (compared without the shared prefix, which would make any key close)."""
    group, _, argument = key.partition(".")
    if group in GROUPS and argument:
        chosen = chosen_options({lines.key(o): lines.parse(o).value() for o in overrides if lines.key(o) in GROUPS})
        return did_you_mean(argument, optimizers.option_keys(group, chosen[group]), prefix=f"{group}.")
    return did_you_mean(key, [name for name, _, _ in keys()])


def chosen_options(values):
    """{'optim': 'SGD', 'scheduler': 'none'}: the option each group takes, given top-level override values
    ({'optim': 'SGD', 'lr_decay_epochs': 10}); the defaults and the lr_decay_epochs rule of `normalize`."""
    chosen = {group: str(values.get(group, DEFAULT_OPTIONS[group] or "none")) for group in GROUPS}
    if "scheduler" not in values and values.get("lr_decay_epochs") is not None:
        chosen["scheduler"] = LR_DECAY_SCHEDULER
    for group in GROUPS:  # torch's own classes by their names (as their options are registered)
        if chosen[group].startswith("torch.optim."):
            chosen[group] = chosen[group].rsplit(".", 1)[1]
    return chosen


def recorded(text):
    """The config a run recorded (its config.yaml) as a Config again: to resume or reproduce that run."""
    from omegaconf import DictConfig, OmegaConf, open_dict

    config = OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(text))
    assert isinstance(config, DictConfig)  # merged onto the Config dataclass
    with open_dict(config):
        del config["defaults"]  # Hydra's composition list: a composed config has none
    return config


def experiment_name(cfg):
    """The MLflow experiment of a run or sweep: `experiment=`, else the env's id or the dataset's name."""
    if cfg.experiment:
        return cfg.experiment
    if cfg.env is not None:
        return cfg.env.replace("/", "-")
    if os.path.exists(cfg.dataset) or os.sep in cfg.dataset:
        return os.path.splitext(os.path.basename(os.path.normpath(cfg.dataset)))[0]
    return cfg.dataset.rsplit(".", 1)[-1]  # a name, or a dotted path to a Dataset class
