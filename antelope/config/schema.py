"""The one home of every default: the structured config that `ml k=v` and `ml(k=v)` both compose
(antelope.config.composition). `ml --help` prints these keys with their docs; every key, with its default and its
one-line doc, is here.
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

DEFAULT_MODEL = "antelope.agents.AC2Agent"
GROUPS = ("optim", "scheduler")  # config groups: `optim=SGD` picks an option, `optim.lr=...` tunes it
DEFAULT_OPTIONS = {"optim": "Adam", "scheduler": None}  # None: no scheduler (the option `none`)
LR_DECAY_SCHEDULER = "CosineAnnealingLR"  # what lr_decay_epochs=N picks, with T_max=N


def _key(default, doc):
    return field(default=default, metadata={"doc": doc})


@dataclass
class SlurmConfig:
    """Slurm jobs submitted through submitit: a run's (launcher=slurm, slurm.*) or a sweep's workers'
    (sweep.launcher=slurm, sweep.slurm.*), the same keys for both."""

    partition: Optional[str] = _key(None, "the partition; default: the cluster's default partition")
    time: int = _key(60, "minutes per job; a job at its limit saves a checkpoint and is requeued, and continues")
    cpus: int = _key(2, "CPUs per process (torch uses as many threads)")
    gpus: int = _key(0, "GPUs per node (--gres=gpu:N); a run's processes take one each")
    mem: Optional[str] = _key(None, "memory per node, e.g. 16G; default: the partition's default")
    nodes: int = _key(1, "nodes of a run's job (launcher=slurm); a sweep's worker job is one node")
    tasks_per_node: int = _key(
        1, "processes per node of a run's job, one data-parallel run (one per GPU); a sweep's worker is one process"
    )
    sbatch: Dict[str, Any] = field(
        default_factory=dict, metadata={"doc": "more sbatch options, e.g. slurm.sbatch={qos: high, account: lab}"}
    )
    folder: str = _key(
        "slurm", "where submitit writes job scripts and logs, one folder per job; on a filesystem the nodes share"
    )
    wait: bool = _key(
        False,
        "wait for the jobs to end and print the run's (or the sweep's) summary, instead of returning once submitted",
    )


@dataclass
class SweepConfig:
    """`ml -m` and `antelope.sweep()`: one sweep is one Optuna study and one MLflow parent run."""

    trials: int = _key(20, "trials in the study in all; running the same sweep again runs only the rest")
    sampler: str = _key("tpe", "tpe (seeded), random, grid, cmaes, gp or qmc")
    pruner: str = _key("median", "median (after 5 trials and a quarter of training), hyperband, halving or none")
    objective: Any = _key(
        None,
        "the metric to optimize, or a list of them ([eval/accuracy,cost/parameters]: a "
        "Pareto front; runs record cost/parameters and cost/train_seconds); default: "
        "eval/accuracy, or eval/mse for regression",
    )
    direction: Any = _key(
        None,
        "maximize or minimize, a list for a list of objectives; default: each metric's "
        "(maximize eval/accuracy, minimize eval/mse and cost/*)",
    )
    study: Optional[str] = _key(
        None,
        "the study's name, also its parent run's; default: derived from the sweep's "
        "overrides, so the same command resumes it",
    )
    storage: Optional[str] = _key(
        None, "Optuna storage: a journal file or a database URL (postgresql://...); default: ./optuna.journal"
    )
    workers: int = _key(
        1, "workers (processes on this machine, or Slurm jobs), each running trials until the study has sweep.trials"
    )
    launcher: str = _key("local", "local (worker processes on this machine) or slurm (worker jobs, sweep.slurm.*)")
    slurm: SlurmConfig = field(
        default_factory=SlurmConfig,
        metadata={"doc": "Slurm job resources: .partition, .time, .cpus, .gpus, .mem, .sbatch, .folder, .wait"},
    )
    seed: int = _key(0, "seeds the sampler")
    seeds: int = _key(
        1,
        "train each trial's config with this many seeds (seed, seed+1, ...), one run each under the trial's run; "
        "the trial's objective is their mean (its std, min and max recorded), and the pruner compares means; "
        "idle workers take a trial's waiting seeds before new trials",
    )
    enqueue: Optional[str] = _key(None, "a YAML file of configs ({key: value} over the sweep's keys) to run first")
    warm_start: Optional[str] = _key(
        None,
        "an experiment or a study whose finished runs or trials a new study "
        "starts with, as complete trials (not counted in sweep.trials)",
    )
    register: Optional[str] = _key(
        None,
        "when the sweep ends, register its best trial's model in MLflow's model "
        "registry under this name (a new version)",
    )
    heartbeat: int = _key(
        30,
        "seconds between a running trial's heartbeats in the study's storage; a trial whose "
        "heartbeat stopped for 3x as long (its worker killed, its machine lost) is taken over "
        "by the next free worker, as the same trial and run, from its checkpoint",
    )
    retries: int = _key(
        2,
        "times a trial whose worker died (killed, out of memory, its machine lost) is taken over; "
        "once more and the trial ends FAIL, the reason on its run, and the sweep goes on",
    )


@dataclass
class Config:
    defaults: List[Any] = field(default_factory=lambda: ["_self_", *({g: o} for g, o in DEFAULT_OPTIONS.items())])
    model: Dict[str, Any] = field(
        default_factory=lambda: {"_target_": DEFAULT_MODEL},
        metadata={
            "doc": "the model (alias: agent): a class name, dotted path or path/to/file.py:Class; "
            "model.<arg>=v passes a constructor argument"
        },
    )
    dataset: str = _key(
        "Digits",
        "a torchvision dataset name (CIFAR10, MNIST, ...), Digits, a .csv/.parquet "
        "file or a folder of images in class subfolders",
    )
    test_dataset: Optional[str] = _key(
        None,
        "a separate test file/folder; default: the dataset's own test split, or a fixed 20% held out when it has none",
    )
    dataset_root: str = _key(
        "${oc.env:ANTELOPE_DATA,'~/.cache/antelope/datasets'}",
        "where torchvision datasets are downloaded and cached (env: ANTELOPE_DATA)",
    )
    label_column: str = _key("label", "the label column of a .csv/.parquet dataset")
    train_steps: int = _key(
        1000,
        "optimizer steps (calls to learn) to train for; with env=, env steps, and by "
        "default a budget that solves the env (CartPole-v1 20000, Pendulum-v1 20000)",
    )
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
    threads: Optional[int] = _key(
        None,
        "torch's CPU threads for the run; null: 1 for a model whose step is small "
        "work, where threads cost more than they save, else as torch is set",
    )
    compile: bool = _key(False, "torch.compile the model's forward")
    channels_last: bool = _key(False, "channels-last memory format for image models and batches")
    augment: List[str] = field(
        default_factory=list,
        metadata={
            "doc": "image augmentation, per sample, batched on the device: [flip] (left-right), [shift] (by up to 1/8 "
            "of the image side), or both in order, e.g. augment=[flip,shift]"
        },
    )
    transform: List[Any] = field(
        default_factory=list,
        metadata={
            "doc": "torchvision transforms (v2) for training, in order: names or {Name: {arg: value}}, e.g. "
            "transform=[RandomHorizontalFlip,{RandomResizedCrop:{size:32}}]; on float32 images in [0, 1]"
        },
    )
    eval_transform: List[Any] = field(
        default_factory=list,
        metadata={"doc": "torchvision transforms (v2) for evaluation, as transform= (e.g. [{CenterCrop:{size:224}}])"},
    )
    image_size: Any = _key(
        None,
        "resize every image as it is read: N (the shorter side to N, then the centre NxN) "
        "or [H,W]; needed for images of different sizes",
    )
    stream: Optional[bool] = _key(
        None,
        "stream the data from disk with DataLoader workers (true) or hold it in "
        "memory (false); null: in memory when it fits a quarter of the free memory",
    )
    data_workers: Optional[int] = _key(
        None,
        "DataLoader worker processes that read streamed data (0: in the "
        "training process); null: one per CPU, at most 8",
    )
    bad_samples: str = _key(
        "error",
        "a sample that cannot be read (a corrupt image): error names it; skip leaves "
        "it out and counts it (data/skipped_samples)",
    )
    env: Optional[str] = _key(
        None,
        "a Gymnasium environment id (CartPole-v1, Pendulum-v1; ALE/... with the atari "
        "extra, dm_control/... with dmc): reinforcement learning, one env step per step",
    )
    discrete: Optional[bool] = _key(
        None,
        "RL action-space conversion: true bins a continuous env's actions, false "
        "gives a discrete env continuous ones (argmax); null: as the env is",
    )
    action_bins: int = _key(11, "bins per action dimension when discrete=true converts a continuous env")
    evaluate_episodes: int = _key(
        10, "RL: episodes per evaluation (seeded apart from training); eval/return is their mean"
    )
    random_steps: Optional[int] = _key(
        None,
        "RL: env steps with uniformly random actions before the model acts; null: a tenth of train_steps, at most 1000",
    )
    envs: int = _key(
        1,
        "RL: copies of the env stepped together (gymnasium.vector), the model acting on all at once; "
        "train_steps still counts env steps",
    )
    learn_per_steps: int = _key(1, "RL: call learn once every N env steps (1: every step)")
    nstep: int = _key(3, "RL: rewards summed per transition (n-step returns); batch.discount is discount**n")
    discount: float = _key(0.99, "RL: the discount factor")
    replay_capacity: int = _key(1_000_000, "RL: transitions the replay buffer keeps (the oldest are dropped)")
    generate: bool = _key(
        False,
        "generative modelling: learn to generate the dataset's obs; sample images are "
        "saved as MLflow artifacts at each evaluation",
    )
    save_per_steps: int = _key(
        1000, "save a checkpoint every N steps (and at each evaluation, at the end and on SIGINT/SIGTERM)"
    )
    keep_checkpoints: int = _key(
        2, "how many of the newest checkpoints (and evaluations' logged models) to keep, besides the best's"
    )
    keep_model: str = _key(
        "best",
        "the run's model (runs:/<id>/model, antelope.load, register=): best, its best evaluation's by the "
        "task's main metric, or last",
    )
    tracking: bool = _key(True, "record the run in MLflow (false: no run and no checkpoints, e.g. for timing)")
    resume: Optional[str] = _key(None, "an MLflow run id: continue that run from its latest checkpoint")
    load: bool = _key(False, "continue the experiment's latest run from its latest checkpoint")
    reproduce: Optional[str] = _key(
        None,
        "an MLflow run id: run its recorded config again, as a new run (it says "
        "when the git commit or package versions differ from the recorded ones)",
    )
    register: Optional[str] = _key(
        None, "register the run's trained model in MLflow's model registry under this name (a new version each run)"
    )
    system_metrics: bool = _key(
        True,
        "record CPU, memory, disk, network and GPU use as MLflow system metrics "
        "(system/...; every MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL seconds, 10 by default)",
    )
    optim: Any = _key(
        None,
        "the optimizer: any torch.optim class by name (default Adam) or a dotted path; "
        "optim.<arg>=v sets its arguments",
    )
    scheduler: Any = _key(
        None,
        "the learning-rate scheduler: any torch.optim.lr_scheduler class by name "
        "or a dotted path; none by default, but with env= cosine to 0 over train_steps",
    )
    launcher: str = _key(
        "local",
        "local (this process, or torchrun's) or slurm (one Slurm job, slurm.*: the console returns once it is "
        "submitted)",
    )
    slurm: SlurmConfig = field(
        default_factory=SlurmConfig,
        metadata={
            "doc": "launcher=slurm's job: .nodes, .tasks_per_node, .gpus, .cpus, .partition, .time, .mem, .sbatch, "
            ".folder, .wait"
        },
    )
    sweep: SweepConfig = field(
        default_factory=SweepConfig,
        metadata={
            "doc": "`ml -m` sweep settings: sweep.trials, .seeds, .sampler, .pruner, .objective, .direction, .study, "
            ".storage, .workers, .launcher, .slurm.*, .seed, .enqueue, .warm_start, .heartbeat, .retries, .register "
            "(see the README's Sweeps)"
        },
    )


# Which keys apply to which run: a run records the keys that applied to it (antelope.run.task), not every default.
RL_KEYS = (
    "env",
    "discrete",
    "action_bins",
    "evaluate_episodes",
    "random_steps",
    "envs",
    "learn_per_steps",
    "nstep",
    "discount",
    "replay_capacity",
)
DATA_KEYS = (
    "dataset",
    "test_dataset",
    "dataset_root",
    "label_column",
    "epochs",
    "augment",
    "transform",
    "eval_transform",
    "image_size",
    "stream",
    "data_workers",
    "bad_samples",
    "generate",
)
# How a run was started, not what it trains (its tags and description say it); a sweep's settings are its parent
# run's params, the same for all its trials.
START_KEYS = ("resume", "load", "reproduce", "tracking", "sweep", "launcher", "slurm")
SHORTHANDS = (
    "lr",
    "lr_decay_epochs",
    "epochs",
)  # recorded when given; what they set is in optim, scheduler, train_steps
# Where and how a run records and checkpoints, not what it learns: two runs that differ only here are comparable
# (a warm start takes either).
BOOKKEEPING_KEYS = (
    "experiment",
    "register",
    "log_per_steps",
    "save_per_steps",
    "keep_checkpoints",
    "system_metrics",
    "data_workers",
    "threads",
    "device",
)
# The trainer's optimizer and scheduler: unused by a model that keeps its own (its optim and scheduler are its own).
TRAINER_UPDATE_KEYS = ("lr", "lr_decay_epochs", "grad_clip", "scheduler_interval")

# env steps an RL run gets when train_steps is not given: what the default agent needs to solve the env,
# with room to spare over the seeds tests/benchmarks/bench_rl.py measures; other envs get DEFAULT_BUDGET
BUDGETS = {"CartPole-v1": 20_000, "Pendulum-v1": 20_000}
DEFAULT_BUDGET = 100_000
RANDOM_STEPS = 1000  # random_steps is a tenth of the budget, at most this
# The trainer's Adam for generate=true unless optim=/lr= are given: a GAN's two players chase each other, and Adam's
# default momentum (beta1 0.9) carries each past the other (DCGAN's beta1 0.5, Radford et al. 2016); with it the
# default agent covers Digits' ten classes within 1,000 steps (tests/benchmarks/bench_generative.py)
GENERATIVE_ADAM = {"lr": 3e-3, "betas": [0.5, 0.999]}


def keys():
    """(key, default, doc) for every top-level key, for `ml --help`."""

    def default(f):
        if f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
            return value.get("_target_", value) if isinstance(value, dict) else value
        return None if f.default is dataclasses.MISSING else f.default

    return [(f.name, default(f), f.metadata["doc"]) for f in dataclasses.fields(Config) if f.name != "defaults"]
