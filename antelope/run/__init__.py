"""The run room: `ml()` and `run()` (ml), where a config becomes one run: the task built whole (task), resumed or
reproduced from an earlier run (resume), trained, and recorded through the tracking room (records; which evaluated
model it keeps: keeping), or submitted as one Slurm job (slurm). Only the doors (which call `ml.ml`) and a sweep's
trial start runs."""

from . import slurm
from .keeping import FRESH, KEPT, kept_evaluation
from .ml import Result, run

__all__ = ["FRESH", "KEPT", "Result", "kept_evaluation", "run", "slurm"]
