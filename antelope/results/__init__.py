"""The results room: what runs recorded, read back through the tracking room: a table of runs (runs), PNG plots
of learning curves and sweeps (plot), and the MLflow UI (ui). Other rooms use what is listed here."""

from .plots import plot
from .sweep_plots import draw_pareto, draw_sweep
from .table import SEED_OF_TRIAL, runs

__all__ = ["SEED_OF_TRIAL", "draw_pareto", "draw_sweep", "plot", "runs"]
