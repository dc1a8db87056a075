"""The `ml` console: `ml key=value ...` runs the same `ml()` as Python, with the same overrides.

    ml                                    # the default job: the default model on Digits
    ml optim=SGD optim.lr=1e-2 scheduler=CosineAnnealingLR scheduler.T_max=1000
    ml model=path/to/file.py:Model dataset=CIFAR10
    ml --cfg lr=0.1                       # print the resolved config and stop
    ml -m 'optim.lr=tag(log, interval(1e-5, 1e-1))' sweep.trials=20   # a sweep (antelope.sweep)
    ml runs | ml plot | ml ui             # look at results (antelope.results: table, plots, ui)
    ml dashboard                          # a sweep's Optuna study in optuna-dashboard (antelope.sweeps.dashboard)

`ml`'s own options are parsed by argparse; every other argument is an override, handed to Hydra as it is.
"""

import argparse
import importlib
import os
import sys
import traceback

# `ml <name> ...` hands its arguments to that module's main(argv), which parses them with argparse.
SUBCOMMANDS = {
    "runs": "antelope.results.table",
    "plot": "antelope.results.plots",
    "ui": "antelope.results.ui",
    "dashboard": "antelope.sweeps.dashboard",
}

USAGE = """usage: ml [--help] [--cfg] [--verbose] [-m|--multirun] [key=value ...]
       ml runs|plot|ui|dashboard ...

Trains a model and records the run in MLflow. Keys (key=value, Hydra override syntax):
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """Bad options as one line, as every other bad input."""
        self.exit(2, f"{self.prog}: error: {message}; see ml --help\n")


def _parser():
    """`ml`'s own options; everything else is an override (key=value), handed to Hydra as it is."""
    parser = _Parser(prog="ml", add_help=False)
    parser.add_argument("-h", "--help", action="store_true")
    parser.add_argument("--cfg", action="store_true", help="print the resolved config and stop")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the traceback of an error")
    parser.add_argument("-m", "--multirun", action="store_true", help="a sweep (antelope.sweep)")
    parser.add_argument("overrides", nargs="*", metavar="key=value")
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "" not in sys.path and os.getcwd() not in sys.path:  # model=models.Net from the project's folder, as
        sys.path.append(os.getcwd())  # `python -m` finds it (a console script does not)
    if argv and argv[0] in SUBCOMMANDS:
        try:
            return importlib.import_module(SUBCOMMANDS[argv[0]]).main(argv[1:])
        except BrokenPipeError:  # `ml runs --csv | head`: the reader has what it wanted
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own recipe (signal docs)
            return 0
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit:  # argparse printed its one line (ml: error: unrecognized arguments: ...)
        return exit.code
    if args.help:
        print(_help())
        return 0
    from .errors import ConfigError, TrainingError

    try:
        if args.cfg:
            from omegaconf import OmegaConf

            from .config import compose

            print(OmegaConf.to_yaml(compose(args.overrides)[0], resolve=True), end="")
            return 0
        if args.multirun:
            from .sweeps.sweep import main as sweep

            return sweep(args.overrides)
        from .run.ml import ml

        ml(*args.overrides)
        return 0
    except ConfigError as error:
        if args.verbose:
            traceback.print_exc()
        print(f"ml: error: {error}", file=sys.stderr)
        return 2
    except TrainingError as error:
        if args.verbose:
            traceback.print_exc()
        print(f"ml: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as interrupt:
        again = (
            "run the same command again to continue the sweep"
            if args.multirun
            else "continue it with: ml resume=RUN_ID"
        )
        print(f"ml: interrupted ({interrupt or 'Ctrl-C'}); the run is marked KILLED; {again}", file=sys.stderr)
        return 130


def _help():
    from .config import keys

    lines = [USAGE]
    for name, default, doc in keys():
        shown = "" if default is None else f" (default: {default})"
        lines.append(f"  {name:<20} {doc}{shown}")
    # The options are torch's own classes: named here by example, as listing them would import torch (seconds)
    # for a help text; a name that is not one is an error that lists them all.
    lines.append("\nGroups (pick with key=Name, tune with key.arg=value):")
    lines.append("  optim: any torch.optim optimizer by its name (SGD, Adam, AdamW, ...) or a dotted path to a class")
    lines.append(
        "  scheduler: none, or any torch.optim.lr_scheduler class by its name (CosineAnnealingLR, StepLR, ...) "
        "or a dotted path"
    )
    lines.append("\nMetrics are recorded as train/<name> (what learn writes to log) and eval/accuracy or eval/mse.")
    return "\n".join(lines)
