"""Runs as a pandas DataFrame: one row per MLflow run, with its status, sweep info, params and final metrics.

    ml runs                                       # every run of the tracking store, oldest first
    ml runs Digits --filter "metrics.`eval/accuracy` > 0.9" --csv runs.csv

    from antelope import runs
    df = runs(experiment='Digits')
    df.groupby('optim.lr')['eval/accuracy'].mean()

Columns: the run's info (INFO below), then every param by its dotted config key (`optim.lr`, `seed`),
then every metric's last value by its namespaced name (`train/loss`, `eval/accuracy`). A param whose key
is also an info column (the config key `experiment`) is named `params.<key>`. Param values are parsed
back into numbers, booleans and None where the whole column allows. The rows are MLflow's own
`mlflow.search_runs`; this module names their columns for reading.
"""

import argparse
import sys

from .. import tracking
from ..errors import ConfigError

INFO = [
    "run_id",
    "run_name",
    "experiment",
    "status",
    "start_time",
    "end_time",
    "parent_run_id",
    "role",
    "sweep",
    "trial",
    "trial_state",
    "overrides",
]
TAGS = {
    "role": "antelope.role",
    "sweep": "antelope.sweep",
    "trial": "antelope.trial",
    "trial_state": "antelope.trial_state",
    "overrides": "antelope.overrides",
    "parent_run_id": "mlflow.parentRunId",
}


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
    return frame.reset_index(drop=True)


def main(argv):
    """`ml runs [EXPERIMENT ...] [--filter EXPR] [--csv FILE]`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="ml runs", description="Print the runs of the tracking store.")
    parser.add_argument("experiment", nargs="*", help="experiment names (default: all)")
    parser.add_argument("--filter", help='an MLflow search filter, e.g. "metrics.`eval/accuracy` > 0.9"')
    parser.add_argument("--csv", metavar="FILE", help="also write every column to this CSV file")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return exit.code
    try:
        frame = runs(args.experiment or None, args.filter)
    except ConfigError as error:
        print(f"ml: error: {error}", file=sys.stderr)
        return 2
    if args.csv:
        frame.to_csv(args.csv, index=False)
        print(f"ml: wrote {len(frame)} runs, {len(frame.columns)} columns to {args.csv}", file=sys.stderr)
    if frame.empty:
        print(f"ml: no runs in {tracking.tracking_uri()}", file=sys.stderr)
        return 0
    print(summary(frame).to_string(index=False, max_colwidth=40))
    return 0


def summary(frame):
    """The columns worth reading on a terminal: the run, its sweep info if any, the params that differ
    between the runs and the final metrics (not train/epoch)."""
    params, metrics = param_columns(frame), metric_columns(frame)
    varying = [c for c in params if frame[c].astype(str).nunique() > 1]
    info = ["run_id", "run_name", "experiment", "status"]
    info += [c for c in ("sweep", "trial", "trial_state") if frame[c].notna().any()]
    shown = frame[info + varying + [m for m in metrics if m != "train/epoch"]].copy()
    shown["run_id"] = shown["run_id"].str[:8]
    return shown


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
