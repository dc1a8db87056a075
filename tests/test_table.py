"""antelope.results.table and `ml runs`: the tracking store as a DataFrame, read back against MLflow's own API."""

import mlflow
import pandas as pd
import pytest
import results
from conftest import run_ml

from antelope import ConfigError
from antelope.results.table import runs


@pytest.fixture
def ids(migrated_store, workdir):
    return results.store(migrated_store, workdir)


def test_one_row_per_run_with_params_metrics_and_sweep_info(ids):
    frame = runs(experiment="Digits")
    assert len(frame) == 4 + 1 + 3
    assert list(frame["run_id"][:4]) == ids["seeds"] + [ids["other"]]  # oldest first
    assert list(frame.columns[:5]) == ["run_id", "run_name", "experiment", "status", "start_time"]
    assert (frame["status"] == "FINISHED").all() and (frame["experiment"] == "Digits").all()
    row = frame.set_index("run_id").loc[ids["seeds"][1]]
    assert (row["optim.lr"], row["seed"], row["train_steps"]) == (1e-3, 1, 40)  # params parsed back
    assert frame["optim.lr"].dtype == float and frame["seed"].dtype == "Int64"
    assert frame["channels_last"].dropna().tolist() == [False] * 7
    final = mlflow.MlflowClient().get_run(ids["seeds"][1]).data.metrics
    assert row["eval/accuracy"] == final["eval/accuracy"] and row["train/loss"] == final["train/loss"]
    assert pd.isna(row["sweep"]) and pd.isna(row["parent_run_id"])

    sweep = frame[frame["sweep"] == results.STUDY].set_index("run_id")
    assert sweep.loc[ids["parent"], "role"] == "sweep" and sweep.loc[ids["parent"], "run_name"] == results.STUDY
    trials = sweep.loc[ids["trials"]]
    assert (trials["parent_run_id"] == ids["parent"]).all()
    assert trials["trial"].tolist() == [0, 1, 2] and (trials["trial_state"] == "COMPLETE").all()
    assert trials["optim.lr"].tolist() == ids["trial_lrs"] and sorted(ids["trial_lrs"]) == results.TRIAL_LRS
    assert trials["run_name"].tolist()[0] == f"trial 0: optim.lr={ids['trial_lrs'][0]:.4g}"
    assert sweep.loc[ids["parent"], "sweep/best_value"] == trials["eval/accuracy"].max()


def test_filter_is_mlflows_search_syntax(ids):
    better = runs(filter="metrics.`eval/accuracy` > 0.5 and params.`optim.lr` = '0.01'")
    assert set(better["run_id"]) == {ids["other"], ids["trials"][ids["trial_lrs"].index(1e-2)]}
    assert list(runs(filter=f"tags.`antelope.sweep` = '{results.STUDY}'")["run_id"]) == [ids["parent"], *ids["trials"]]
    assert runs(filter="metrics.`eval/accuracy` > 2").empty


def test_bad_experiment_or_filter_is_a_one_line_config_error(ids):
    with pytest.raises(ConfigError, match=r"unknown experiment 'Digts' \(did you mean 'Digits'\?\).*: Default, Digits"):
        runs(experiment="Digts")
    with pytest.raises(ConfigError, match=r"bad filter 'metrics.eval/accuracy > 0.9'.*backquote"):
        runs(filter="metrics.eval/accuracy > 0.9")


@pytest.mark.slow
def test_ml_runs_prints_the_table_and_writes_every_column_to_csv(ids, workdir):
    done = run_ml("runs", "Digits", "--csv", "runs.csv")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 + 8
    header = lines[0].split()
    assert header[:4] == ["run_id", "run_name", "experiment", "status"]
    assert {"sweep", "trial", "trial_state", "optim.lr", "seed", "eval/accuracy"} <= set(header)
    assert "batch_size" not in header  # the same in every run: only in the CSV
    assert ids["other"][:8] in done.stdout and f"trial 2: optim.lr={ids['trial_lrs'][2]:.4g}" in done.stdout
    written = pd.read_csv(workdir / "runs.csv")
    assert list(written["run_id"]) == list(runs()["run_id"])
    assert {"batch_size", "optim.lr", "eval/accuracy", "parent_run_id"} <= set(written.columns)

    bad = run_ml("runs", "Digts")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == [bad.stderr.strip()] and bad.stderr.startswith("ml: error: unknown experiment")


def test_ml_runs_on_an_empty_store(capsys):
    from antelope.results.table import main

    assert main([]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "no runs in sqlite:///" in out.err
