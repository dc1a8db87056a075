"""Runs as a pandas DataFrame: one row per MLflow run, with its status, sweep info, params and final metrics.

    ml runs                                       # every run of the tracking store, oldest first, in 100 columns
    ml runs Digits --filter "metrics.`eval/accuracy` > 0.9" --csv runs.csv
    ml runs --wide                                # every column, however wide

    from antelope import runs
    df = runs(experiment='Digits')
    df.groupby('optim.lr')['eval/accuracy'].mean()

Columns: the run's info (INFO below), then every param by its dotted config key (`optim.lr`, `seed`),
then every metric's last value by its namespaced name (`train/loss`, `eval/accuracy`). A param whose key
is also an info column (the config key `experiment`) is named `params.<key>`. Param values are parsed
back into numbers, booleans and None where the whole column allows. A trial of several seeds
(`sweep.seeds=N`) is a run with `seeds` N, the parent of its seeds' runs, which carry its `trial` number
too. The rows are MLflow's own `mlflow.search_runs`; this module names their columns for reading.
"""

import argparse
import math
import shutil
import sys

from .. import tracking
from ..errors import ConfigError
from ..metrics import METRICS

INFO = [
    "run_id",
    "run_name",
    "experiment",
    "model",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "role",
    "sweep",
    "trial",
    "seeds",
    "trial_state",
    "overrides",
]
TAGS = {
    "model": "antelope.model",  # the model's class or function (its qualified name)
    "role": "antelope.role",
    "sweep": "antelope.sweep",
    "trial": "antelope.trial",
    "seeds": "antelope.seeds",  # on the run of a trial of several seeds (sweep.seeds): how many
    "trial_state": "antelope.trial_state",
    "overrides": "antelope.overrides",
    "parent_run_id": "mlflow.parentRunId",
}
SEED_OF_TRIAL = "antelope.seed_of_trial"  # a seed run's tag, written by antelope.sweeps.seed_queue: its trial's number


def runs(experiment=None, filter=None):
    """The runs of the tracking store (MLflow's tracking URI) as a DataFrame, oldest first.

    `experiment` is a name or a list of names (default: every experiment). `filter` is an MLflow search
    filter, e.g. ``"metrics.`eval/accuracy` > 0.9"``, ``"params.`optim.lr` = '0.01'"`` (params are
    compared as strings), ``"tags.`antelope.sweep` = 'my-study'"``, ``"attributes.status = 'FINISHED'"``.
    A sweep's parent run has role 'sweep'; its trials have its id as parent_run_id and their trial number.
    """
    import pandas as pd

    found = tracking.search_runs(experiment, filter)
    if found.empty:
        return pd.DataFrame(columns=INFO)
    columns = {name: found[name] for name in ("run_id", "experiment", "status", "start_time", "end_time")}
    columns["run_name"] = found.get("tags.mlflow.runName")
    columns.update({column: found.get(f"tags.{tag}") for column, tag in TAGS.items()})
    seed_of_trial = found.get(f"tags.{SEED_OF_TRIAL}")
    if seed_of_trial is not None:  # a seed's run belongs to its trial
        columns["trial"] = seed_of_trial if columns["trial"] is None else columns["trial"].fillna(seed_of_trial)
    frame = pd.DataFrame({column: columns[column] for column in INFO}, index=found.index)
    params = {
        f"params.{c[7:]}" if c[7:] in INFO else c[7:]: _parse(found[c])
        for c in sorted(found.columns)
        if c.startswith("params.")
    }
    metrics = {c[8:]: found[c] for c in sorted(found.columns) if c.startswith("metrics.")}
    frame = pd.concat(
        [frame, pd.DataFrame(params, index=found.index), pd.DataFrame(metrics, index=found.index)], axis=1
    )
    frame["trial"] = pd.to_numeric(frame["trial"]).astype("Int64")
    frame["seeds"] = pd.to_numeric(frame["seeds"]).astype("Int64")
    return frame.reset_index(drop=True)


def main(argv):
    """`ml runs [EXPERIMENT ...] [--filter EXPR] [--wide] [--csv [FILE]]`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="ml runs", description="Print the runs of the tracking store.")
    parser.add_argument("experiment", nargs="*", help="experiment names (default: all)")
    parser.add_argument("--filter", help='an MLflow search filter, e.g. "metrics.`eval/accuracy` > 0.9"')
    parser.add_argument("--wide", action="store_true", help="print every column, however wide")
    parser.add_argument(
        "--csv", nargs="?", const="-", metavar="FILE", help="every column as CSV, to FILE or (no FILE) to stdout"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return exit.code
    try:
        frame = runs(args.experiment or None, args.filter)
    except ConfigError as error:
        print(f"ml: error: {error}", file=sys.stderr)
        return 2
    if args.csv == "-":
        frame.to_csv(sys.stdout, index=False)
        return 0
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"ml: wrote {len(frame)} runs, {len(frame.columns)} columns to {args.csv}", file=sys.stderr)
    if frame.empty:
        print(f"ml: no runs in {tracking.tracking_uri()}", file=sys.stderr)
        return 0
    if args.wide:
        print(frame.to_string(index=False))
        return 0
    width = shutil.get_terminal_size((WIDTH, 24)).columns
    shown, left_out = summary(frame, width)
    print(shown)
    if left_out:
        print(
            f"ml: {left_out} more columns that differ between these runs: ml runs --wide, or --csv for every one",
            file=sys.stderr,
        )
    return 0


WIDTH = 100  # the terminal width `ml runs` fits when it cannot ask the terminal (output piped to a file)
CELL = 24  # characters of a value shown before it is cut with "…"


def summary(frame, width=WIDTH):
    """(the table as text, how many columns did not fit): the run, its status (PRUNED for a pruned trial), the
    main metric of each task, then what differs between the runs (experiment, model, sweep and trial, params,
    other final metrics) for as long as the table fits `width` characters. A trial of several seeds shows the
    mean of its seeds' values (its own run's) and, in `<metric>_std` beside it, their spread."""
    import pandas as pd

    status = frame["status"].where(frame["trial_state"] != "PRUNED", "PRUNED")
    table = pd.DataFrame({"run": frame["run_id"].str[:8], "status": status})
    main = [m for m in METRICS.values() if m in frame and frame[m].notna().any()]
    # A sweep's parent run has no model, params or metrics of its own; a trial of several seeds only its drawn params
    trained = frame[(frame["role"] != "sweep") & frame["seeds"].isna()]
    compared = trained if len(trained) else frame
    optional = [c for c in ("experiment", "model") if _differs(compared[c])]
    optional += [c for c in ("sweep", "trial") if _differs(frame[c])]
    params = [c for c in param_columns(frame) if _differs(compared[c])]
    optional += sorted(params, key=lambda c: -_distinct(compared[c]))  # the most telling first: a swept lr, a seed
    others = [m for m in metric_columns(frame) if m not in main and m != "train/epoch" and not m.startswith("system/")]
    optional += [m for m in others if _differs(compared[m])] + ["run_name"] * _differs(frame["run_name"])
    for column in main:
        table[column] = frame[column].map(_cell)
        spread = _seed_spread(frame, column)
        if spread.notna().any():
            table[f"{column}_std"] = spread.map(_cell)
    main = [c for c in table.columns if c in main or c.removesuffix("_std") in main]
    left_out = 0
    for column in optional:
        tried = table.copy()
        position = len(tried.columns) - len(main)  # before the main metrics, which stay last
        values = frame[column].str.rsplit(".", n=1).str[-1] if column == "model" else frame[column]  # the class
        tried.insert(position, column, values.map(_cell))
        if max(len(line) for line in tried.to_string(index=False).splitlines()) <= width:
            table = tried
        else:
            left_out += 1
    return table.to_string(index=False), left_out


def _seed_spread(frame, column):
    """On the row of each trial of several seeds: the standard deviation of `column` over its seeds' runs."""
    spread = frame.groupby("parent_run_id")[column].std()
    return frame["run_id"].map(spread).where(of_several_seeds(frame))


def of_several_seeds(frame):
    """Which rows of a `runs()` frame are trials of several seeds (sweep.seeds), their seeds' runs nested under them."""
    return frame["seeds"].fillna(1) > 1


def _differs(column):
    return bool(_distinct(column) > 1 and column.notna().any())


def _distinct(column):
    """How many different values `column` holds, missing counted as one (pandas' nunique leaves it out)."""
    return len({repr(value) for value in column.tolist()})


def _cell(value):
    """A value as a short cell: numbers to 4 significant digits, long text cut."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def param_columns(frame):
    return [c for c in frame.columns if c not in INFO and "/" not in c]


def metric_columns(frame):
    return [c for c in frame.columns if "/" in c]


def _parse(column):
    """A param column of strings as numbers, or booleans, where every value reads as one ('None' is None)."""
    import pandas as pd

    values = column.where(column != "None")
    present = values.dropna()
    if present.empty:
        return values.astype(object)
    if present.isin(["True", "False"]).all():
        return values.map({"True": True, "False": False}).astype(object).where(values.notna())
    numbers = pd.to_numeric(present, errors="coerce")
    if numbers.notna().all():  # integers stay integers beside missing values (a sweep's parent has none)
        integral = present.str.fullmatch(r"-?\d+").all()
        return pd.to_numeric(values).astype("Int64" if integral else "float64")
    return values
