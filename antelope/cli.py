"""The `ml` console: `ml key=value ...` runs the same `ml()` as Python, with the same overrides.

    ml                                    # the default job: the default model on Digits
    ml optim=SGD optim.lr=1e-2 scheduler=CosineAnnealingLR scheduler.T_max=1000
    ml model=path/to/file.py:Model dataset=CIFAR10
    ml --cfg lr=0.1                       # print the resolved config and stop
    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' sweep.trials=20   # a sweep (antelope.sweep)
    ml runs | ml plot | ml ui             # look at results (antelope.runs, antelope.plot, antelope.ui)
    ml dashboard                          # a sweep's Optuna study in optuna-dashboard (antelope.dashboard)
"""
import importlib
import os
import sys
import traceback

# `ml <name> ...` hands its arguments to that module's main(argv).
SUBCOMMANDS = {"runs": "antelope.runs", "plot": "antelope.plot", "ui": "antelope.ui",
               "dashboard": "antelope.dashboard"}
FLAGS = {"--help", "-h", "--cfg", "--verbose", "-v", "-m", "--multirun"}

USAGE = """usage: ml [--help] [--cfg] [--verbose] [-m|--multirun] [key=value ...]
       ml runs|plot|ui|dashboard ...

Trains a model and records the run in MLflow. Keys (key=value, Hydra override syntax):
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "" not in sys.path and os.getcwd() not in sys.path:  # model=models.Net from the project's folder, as
        sys.path.append(os.getcwd())                        # `python -m` finds it (a console script does not)
    if argv and argv[0] in SUBCOMMANDS:
        return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:])
    flags = {a for a in argv if a.startswith("-")}
    overrides = [a for a in argv if not a.startswith("-")]
    verbose = bool(flags & {"--verbose", "-v"})
    unknown = flags - FLAGS
    if unknown:
        print(f"ml: error: unknown option {sorted(unknown)[0]}; options: {', '.join(sorted(FLAGS))}", file=sys.stderr)
        return 2
    if flags & {"--help", "-h"}:
        print(_help())
        return 0
    from .errors import ConfigError, TrainingError

    try:
        if "--cfg" in flags:
            from omegaconf import OmegaConf

            from .config import compose

            print(OmegaConf.to_yaml(compose(overrides)[0], resolve=True), end="")
            return 0
        if flags & {"-m", "--multirun"}:
            from .sweep import main as sweep

            return sweep(overrides)
        from .ml import ml

        ml(*overrides)
        return 0
    except ConfigError as error:
        if verbose:
            traceback.print_exc()
        print(f"ml: error: {error}", file=sys.stderr)
        return 2
    except TrainingError as error:
        if verbose:
            traceback.print_exc()
        print(f"ml: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        again = ("run the same command again to continue the sweep" if flags & {"-m", "--multirun"}
                 else "continue it with: ml resume=RUN_ID")
        print(f"ml: interrupted ({interrupt or 'Ctrl-C'}); the run is marked KILLED; {again}", file=sys.stderr)
        return 130


def _help():
    from . import optim
    from .config import keys

    optim.register_options()
    lines = [USAGE]
    for name, default, doc in keys():
        shown = "" if default is None else f" (default: {default})"
        lines.append(f"  {name:<20} {doc}{shown}")
    lines.append("\nGroups (pick with key=Name, tune with key.arg=value):")
    lines.append(f"  optim: {', '.join(optim.options('optim'))}")
    lines.append(f"  scheduler: none, {', '.join(optim.options('scheduler'))}")
    lines.append("\nMetrics are recorded as train/<name> (what learn writes to log) and eval/accuracy or eval/mse.")
    return "\n".join(lines)
