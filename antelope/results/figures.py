"""The plumbing of every figure the results room draws: a matplotlib figure outside pyplot, saved as a PNG (and
logged on the run it describes), and axis ticks a reader can use."""

import math
import os
import re

from .. import tracking


def new_figure(width, height):
    """A figure outside pyplot: no GUI backend, no global state, nothing to close; PNGs on any machine.
    Its Agg canvas is what measures text before the figure is drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


class Figure:
    """A drawn matplotlib figure, where it goes, and the run it describes."""

    def __init__(self, figure, path):
        self.figure, self.path = figure, path


def save(figures, run_id):
    paths = []
    for item in figures:
        os.makedirs(os.path.dirname(item.path) or ".", exist_ok=True)
        item.figure.savefig(item.path, dpi=100)
        if run_id is not None:
            tracking.log_artifacts(run_id, item.path, "plots")
        paths.append(item.path)
    return paths


def log_ticks(low, high):
    """A few ticks for a log axis over [low, high]: on decades, else at 1, 2, 5 or every digit of each
    decade, whichever first puts two inside; linear ticks for a range narrower than that. Matplotlib's
    own labels decades only, so a sweep of lr within one decade (0.01..0.05) had no labelled tick."""
    from matplotlib.ticker import MaxNLocator

    if low == high:
        return [low]
    decades = range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
    for subs in ((1,), (1, 2, 5), range(1, 10)):
        ticks = [s * 10.0**d for d in decades for s in subs]
        ticks = [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]  # 0.01 is a tick of [0.01, x]
        if len(ticks) >= 2:
            return ticks[:: math.ceil(len(ticks) / 6)]
    return [t for t in MaxNLocator(4).tick_values(low, high) if low <= t <= high] or [low, high]


def safe_name(name):
    """A run or experiment name as one folder name."""
    return re.sub(r"[^\w.=-]+", "_", str(name)).strip("_") or "unnamed"
