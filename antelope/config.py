"""The one home of every default: the structured config that `ml k=v` and `ml(k=v)` both compose.

Both doors become the same list of Hydra override strings (`optim=SGD`, `optim.lr=0.01`), composed
by Hydra's compose API against `Config` below. `ml --help` prints these keys with their docs;
`ml --cfg` prints the composed result. Every key, with its default and its one-line doc, is here, so this
module is longer than the others.
"""
import dataclasses
import os
import warnings
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from . import augment, optim, overrides as lines
from .errors import ConfigError
from .imports import did_you_mean

DEFAULT_MODEL = "antelope.agents.AC2Agent"
GROUPS = ("optim", "scheduler")  # config groups: `optim=SGD` picks an option, `optim.lr=...` tunes it
DEFAULT_OPTIONS = {"optim": "Adam", "scheduler": None}  # None: no scheduler (the option `none`)
LR_DECAY_SCHEDULER = "CosineAnnealingLR"  # what lr_decay_epochs=N picks, with T_max=N


def _key(default, doc):
    return field(default=default, metadata={"doc": doc})


@dataclass
class SlurmConfig:
    """sweep.launcher=slurm: every worker one Slurm job, submitted through submitit."""
    partition: Optional[str] = _key(None, "the partition; default: the cluster's default partition")
    time: int = _key(60, "minutes per worker job; a job at its limit checkpoints its trial and is requeued")
    cpus: int = _key(2, "CPUs per worker job (torch uses as many threads)")
    gpus: int = _key(0, "GPUs per worker job (--gres=gpu:N)")
    mem: Optional[str] = _key(None, "memory per worker job, e.g. 16G; default: the partition's default")
    sbatch: Dict[str, Any] = field(default_factory=dict, metadata={
        "doc": "more sbatch options, e.g. sweep.slurm.sbatch={qos: high, account: lab}"})
    folder: str = _key("slurm", "where submitit writes job scripts and logs, one folder per job; on a "
                                "filesystem the nodes share")
    wait: bool = _key(False, "wait for the worker jobs to end and print the sweep's summary, instead of "
                             "returning once they are submitted")


@dataclass
class SweepConfig:
    """`ml -m` and `antelope.sweep()`: one sweep is one Optuna study and one MLflow parent run."""
    trials: int = _key(20, "trials in the study in all; running the same sweep again runs only the rest")
    sampler: str = _key("tpe", "tpe (seeded), random, grid, cmaes, gp or qmc")
    pruner: str = _key("median", "median (after 5 trials and a quarter of training), hyperband, halving or none")
    objective: Any = _key(None, "the metric to optimize, or a list of them ([eval/accuracy,cost/parameters]: a "
                                "Pareto front; runs record cost/parameters and cost/train_seconds); default: "
                                "eval/accuracy, or eval/mse for regression")
    direction: Any = _key(None, "maximize or minimize, a list for a list of objectives; default: each metric's "
                                "(maximize eval/accuracy, minimize eval/mse and cost/*)")
    study: Optional[str] = _key(None, "the study's name, also its parent run's; default: derived from the sweep's "
                                      "overrides, so the same command resumes it")
    storage: Optional[str] = _key(None, "Optuna storage: a journal file or a database URL (postgresql://...); "
                                        "default: ./optuna.journal")
    workers: int = _key(1, "workers (processes on this machine, or Slurm jobs), each running trials until the study "
                           "has sweep.trials")
    launcher: str = _key("local", "local (worker processes on this machine) or slurm (worker jobs, sweep.slurm.*)")
    slurm: SlurmConfig = field(default_factory=SlurmConfig, metadata={
        "doc": "Slurm job resources: .partition, .time, .cpus, .gpus, .mem, .sbatch, .folder, .wait"})
    seed: int = _key(0, "seeds the sampler")
    enqueue: Optional[str] = _key(None, "a YAML file of configs ({key: value} over the sweep's keys) to run first")
    warm_start: Optional[str] = _key(None, "an experiment or a study whose finished runs or trials a new study "
                                           "starts with, as complete trials (not counted in sweep.trials)")
    register: Optional[str] = _key(None, "when the sweep ends, register its best trial's model in MLflow's model "
                                         "registry under this name (a new version)")
    heartbeat: int = _key(30, "seconds between a running trial's heartbeats in the study's storage; a trial whose "
                              "heartbeat stopped for 3x as long (its worker killed, its machine lost) is taken over "
                              "by the next free worker, as the same trial and run, from its checkpoint")


@dataclass
class Config:
    defaults: List[Any] = field(default_factory=lambda: ["_self_", *({g: o} for g, o in DEFAULT_OPTIONS.items())])
    model: Dict[str, Any] = field(default_factory=lambda: {"_target_": DEFAULT_MODEL}, metadata={
        "doc": "the model (alias: agent): a class name, dotted path or path/to/file.py:Class; "
               "model.<arg>=v passes a constructor argument"})
    dataset: str = _key("Digits", "a torchvision dataset name (CIFAR10, MNIST, ...), Digits, a .csv/.parquet "
                                  "file or a folder of images in class subfolders")
    test_dataset: Optional[str] = _key(None, "a separate test file/folder; default: the dataset's own test "
                                             "split, or a fixed 20% held out when it has none")
    dataset_root: str = _key("${oc.env:ANTELOPE_DATA,'~/.cache/antelope/datasets'}",
                             "where torchvision datasets are downloaded and cached (env: ANTELOPE_DATA)")
    label_column: str = _key("label", "the label column of a .csv/.parquet dataset")
    train_steps: int = _key(1000, "optimizer steps (calls to learn) to train for; with env=, env steps, and by "
                                  "default a budget that solves the env (CartPole-v1 20000, Pendulum-v1 20000)")
    epochs: Optional[int] = _key(None, "train for this many passes over the data instead of train_steps")
    batch_size: int = _key(64, "samples per batch")
    evaluate_per_steps: int = _key(500, "evaluate on the test split every N steps (and at the end); 0: only at the end")
    log_per_steps: int = _key(100, "average the train metrics and record them every N steps")
    seed: int = _key(0, "seeds the model's initialisation and the batch order")
    device: str = _key("auto", "auto (CUDA when present, else CPU), cpu, cuda, cuda:N")
    experiment: Optional[str] = _key(None, "the MLflow experiment; default: the dataset's name")
    lr: Optional[float] = _key(None, "shorthand for optim.lr")
    lr_decay_epochs: Optional[int] = _key(None, "shorthand for scheduler=CosineAnnealingLR scheduler.T_max=N")
    scheduler_interval: str = _key("epoch", "step the scheduler once per epoch or once per step")
    precision: str = _key("fp32", "fp32, bf16 or fp16 (autocast; fp16 with a gradient scaler)")
    grad_accumulation: int = _key(1, "calls to learn (losses summed) per optimizer step")
    grad_clip: Optional[float] = _key(None, "clip the gradient norm to this value before each step")
    threads: Optional[int] = _key(None, "torch's CPU threads for the run; null: 1 for a model whose step is small "
                                        "work, where threads cost more than they save, else as torch is set")
    compile: bool = _key(False, "torch.compile the model's forward")
    channels_last: bool = _key(False, "channels-last memory format for image models and batches")
    augment: List[str] = field(default_factory=list, metadata={
        "doc": "image augmentation, per sample, batched on the device: [flip] (left-right), [shift] (by up to 1/8 "
               "of the image side), or both in order, e.g. augment=[flip,shift]"})
    transform: List[Any] = field(default_factory=list, metadata={
        "doc": "torchvision transforms (v2) for training, in order: names or {Name: {arg: value}}, e.g. "
               "transform=[RandomHorizontalFlip,{RandomResizedCrop:{size:32}}]; on float32 images in [0, 1]"})
    eval_transform: List[Any] = field(default_factory=list, metadata={
        "doc": "torchvision transforms (v2) for evaluation, as transform= (e.g. [{CenterCrop:{size:224}}])"})
    image_size: Any = _key(None, "resize every image as it is read: N (the shorter side to N, then the centre NxN) "
                                 "or [H,W]; needed for images of different sizes")
    stream: Optional[bool] = _key(None, "stream the data from disk with DataLoader workers (true) or hold it in "
                                        "memory (false); null: in memory when it fits a quarter of the free memory")
    data_workers: Optional[int] = _key(None, "DataLoader worker processes that read streamed data (0: in the "
                                             "training process); null: one per CPU, at most 8")
    bad_samples: str = _key("error", "a sample that cannot be read (a corrupt image): error names it; skip leaves "
                                     "it out and counts it (data/skipped_samples)")
    env: Optional[str] = _key(None, "a Gymnasium environment id (CartPole-v1, Pendulum-v1; ALE/... with the atari "
                                    "extra, dm_control/... with dmc): reinforcement learning, one env step per step")
    discrete: Optional[bool] = _key(None, "RL action-space conversion: true bins a continuous env's actions, false "
                                          "gives a discrete env continuous ones (argmax); null: as the env is")
    action_bins: int = _key(11, "bins per action dimension when discrete=true converts a continuous env")
    evaluate_episodes: int = _key(10, "RL: episodes per evaluation (seeded apart from training); eval/return is their mean")
    random_steps: Optional[int] = _key(None, "RL: env steps with uniformly random actions before the model acts; "
                                             "null: a tenth of train_steps, at most 1000")
    envs: int = _key(1, "RL: copies of the env stepped together (gymnasium.vector), the model acting on all at once; "
                        "train_steps still counts env steps")
    learn_per_steps: int = _key(1, "RL: call learn once every N env steps (1: every step)")
    nstep: int = _key(3, "RL: rewards summed per transition (n-step returns); batch.discount is discount**n")
    discount: float = _key(0.99, "RL: the discount factor")
    replay_capacity: int = _key(1_000_000, "RL: transitions the replay buffer keeps (the oldest are dropped)")
    generate: bool = _key(False, "generative modelling: learn to generate the dataset's obs; sample images are "
                                 "saved as MLflow artifacts at each evaluation")
    save_per_steps: int = _key(1000, "save a checkpoint every N steps (and at the end and on SIGINT/SIGTERM)")
    keep_checkpoints: int = _key(2, "how many of the newest checkpoints to keep")
    tracking: bool = _key(True, "record the run in MLflow (false: no run and no checkpoints, e.g. for timing)")
    resume: Optional[str] = _key(None, "an MLflow run id: continue that run from its latest checkpoint")
    load: bool = _key(False, "continue the experiment's latest run from its latest checkpoint")
    reproduce: Optional[str] = _key(None, "an MLflow run id: run its recorded config again, as a new run (it says "
                                          "when the git commit or package versions differ from the recorded ones)")
    register: Optional[str] = _key(None, "register the run's trained model in MLflow's model registry under this "
                                         "name (a new version each run)")
    system_metrics: bool = _key(True, "record CPU, memory, disk, network and GPU use as MLflow system metrics "
                                      "(system/...; every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds, 10 by default)")
    optim: Any = _key(None, "the optimizer: any torch.optim class by name (default Adam) or a dotted path; "
                            "optim.<arg>=v sets its arguments")
    scheduler: Any = _key(None, "the learning-rate scheduler: any torch.optim.lr_scheduler class by name "
                                "or a dotted path; none by default, but with env= cosine to 0 over train_steps")
    sweep: SweepConfig = field(default_factory=SweepConfig, metadata={
        "doc": "`ml -m` sweep settings: sweep.trials, .sampler, .pruner, .objective, .direction, .study, "
               ".storage, .workers, .launcher, .slurm.*, .seed, .enqueue, .warm_start, .heartbeat, .register "
               "(see the README's Sweeps)"})


# env steps an RL run gets when train_steps is not given: what the default agent needs to solve the env,
# with room to spare over the seeds tests/benchmarks/bench_rl.py measures; other envs get DEFAULT_BUDGET
BUDGETS = {"CartPole-v1": 20_000, "Pendulum-v1": 20_000}
DEFAULT_BUDGET = 100_000
RANDOM_STEPS = 1000  # random_steps is a tenth of the budget, at most this

_OPEN_MAPS = ("sweep.slurm.sbatch",)  # the user's own mappings: `key={...}` replaces one, `key.name=v` adds to it
_CHOICES = {"scheduler_interval": ("epoch", "step"), "precision": ("fp32", "bf16", "fp16"),
            "bad_samples": ("error", "skip")}
_POSITIVE = ("train_steps", "epochs", "batch_size", "log_per_steps", "lr_decay_epochs", "grad_accumulation",
             "save_per_steps", "keep_checkpoints", "evaluate_episodes", "nstep", "replay_capacity", "envs",
             "learn_per_steps", "threads")


def keys():
    """(key, default, doc) for every top-level key, for `ml --help`."""
    def default(f):
        if f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            return value.get("_target_", value) if isinstance(value, dict) else value
        return None if f.default is dataclasses.MISSING else f.default

    return [(f.name, default(f), f.metadata["doc"]) for f in dataclasses.fields(Config) if f.name != "defaults"]


def compose(overrides):
    """The composed, validated config for a list of override strings, and the keys given explicitly."""
    optim.register_options()
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
    return cfg, explicit


_COMPOSED = {}  # group choices (e.g. ('optim=SGD',)) -> the config Hydra composed for them, pickled


def _composed(groups, overrides):
    """A copy of the config Hydra composes for these group choices (`optim=SGD`). Hydra composes once per
    choice of groups and process: composing inspects the call stack and rebuilds the defaults tree, which
    a sweep would pay for every trial. The copy is unpickled, which is faster than a deep copy (OmegaConf
    pickles a config with its structured type and struct flag)."""
    import pickle

    from hydra import compose as hydra_compose, initialize
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
                OmegaConf.update(cfg, key, override.value(), merge=key not in _OPEN_MAPS,
                                 force_add=override.is_add() or override.is_force_add())
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
            raise ConfigError(f"{line!r}: keys cannot be added or deleted (only model.<argument>=value adds "
                              f"one); see ml --help for the keys")
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
            optim.check_option(key, str(override.value()))
        elif key in ("augment", "transform", "eval_transform") and not override.is_sweep_override() \
                and isinstance(override.value(), (str, dict)):
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
            warnings.warn(f"lr_decay_epochs={cfg.lr_decay_epochs} is not used: scheduler="
                          f"{cfg.scheduler.get('_target_', 'none')} was given explicitly", stacklevel=3)
        elif "scheduler.T_max" in explicit:
            warnings.warn(f"lr_decay_epochs={cfg.lr_decay_epochs} is not used: scheduler.T_max="
                          f"{cfg.scheduler.T_max} was given explicitly", stacklevel=3)
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
        raise ConfigError(f"random_steps={cfg.random_steps} is all of train_steps={cfg.train_steps}: the model "
                          f"would never act; give random_steps below train_steps, or leave it out")
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
    if "epochs" in explicit and "train_steps" in explicit:
        raise ConfigError(f"give either train_steps={cfg.train_steps} or epochs={cfg.epochs}, not both")
    unknown = [name for name in cfg.augment if name not in augment.AUGMENTATIONS]
    if unknown:
        raise ConfigError(f"augment={unknown[0]!r} is not valid: choose from {', '.join(augment.AUGMENTATIONS)}")
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
        return f"unknown {group} option; choose one of {', '.join(optim.options(group))}"
    return message.strip().splitlines()[0]


def _close_key(key, overrides):
    """' (did you mean ...)' for an unknown key: among the top-level keys, or for `optim.<arg>` among the
    arguments of the optimizer chosen (compared without the shared prefix, which would make any key close)."""
    group, _, argument = key.partition(".")
    if group in GROUPS and argument:
        chosen = chosen_options({lines.key(o): lines.parse(o).value() for o in overrides if lines.key(o) in GROUPS})
        return did_you_mean(argument, optim.option_keys(group, chosen[group]), prefix=f"{group}.")
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
    from omegaconf import OmegaConf

    return OmegaConf.merge(OmegaConf.structured(Config), OmegaConf.create(text))


def experiment_name(cfg):
    """The MLflow experiment of a run or sweep: `experiment=`, else the env's id or the dataset's name."""
    if cfg.experiment:
        return cfg.experiment
    if cfg.env is not None:
        return cfg.env.replace("/", "-")
    if os.path.exists(cfg.dataset) or os.sep in cfg.dataset:
        return os.path.splitext(os.path.basename(os.path.normpath(cfg.dataset)))[0]
    return cfg.dataset.rsplit(".", 1)[-1]  # a name, or a dotted path to a Dataset class
