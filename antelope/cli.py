"""The `ml` console: `ml key=value ...` runs the same `ml()` as Python, with the same overrides.

    ml                                    # the default job: the default model on Digits
    ml optim=SGD optim.lr=1e-2 scheduler=CosineAnnealingLR scheduler.T_max=1000
    ml model=path/to/file.py:Model dataset=CIFAR10
    ml --cfg lr=0.1                       # print the resolved config and stop
"""
import sys
import traceback

USAGE = """usage: ml [--help] [--cfg] [--verbose] [key=value ...]

Trains a model and records the run in MLflow. Keys (key=value, Hydra override syntax):
"""


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    flags = {a for a in argv if a.startswith("-")}
    overrides = [a for a in argv if not a.startswith("-")]
    verbose = bool(flags & {"--verbose", "-v"})
    unknown = flags - {"--help", "-h", "--cfg", "--verbose", "-v"}
    if unknown:
        print(f"ml: error: unknown option {sorted(unknown)[0]}; options: --help, --cfg, --verbose", file=sys.stderr)
        return 2
    if flags & {"--help", "-h"}:
        print(_help())
        return 0
    from .errors import ConfigError

    try:
        if "--cfg" in flags:
            from omegaconf import OmegaConf

            from .config import compose

            print(OmegaConf.to_yaml(compose(overrides)[0], resolve=True), end="")
            return 0
        from .ml import ml

        ml(*overrides)
        return 0
    except ConfigError as error:
        if verbose:
            traceback.print_exc()
        print(f"ml: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ml: interrupted; the run is marked KILLED", file=sys.stderr)
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
