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
    assert list(frame.columns[:6]) == ["run_id", "run_name", "experiment", "model", "status", "start_time"]
    assert set(frame["model"].dropna()) == {"antelope.agents.ac2.AC2Agent"}  # the sweep's parent trains none
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


def test_the_summary_fits_100_columns_with_what_differs_and_the_main_metric(ids):
    from antelope.results.table import summary

    text, left_out = summary(runs(experiment="Digits"))
    lines = text.splitlines()
    assert max(map(len, lines)) <= 100 and len(lines) == 1 + 8
    header = lines[0].split()
    assert header[:2] == ["run", "status"] and header[-1] == "eval/accuracy"  # the task's main metric last
    assert {"sweep", "trial", "optim.lr", "seed"} <= set(header)  # what tells these runs apart
    assert "batch_size" not in header and "model" not in header  # the same in every run
    assert left_out > 0  # other metrics and params that differ did not fit: --wide has them
    wide, _ = summary(runs(experiment="Digits"), width=10_000)
    assert len(wide.splitlines()[0].split()) == len(header) + left_out


def test_a_pruned_trial_reads_pruned_and_a_parent_run_does_not_make_every_param_differ():
    from antelope.results.table import INFO, summary

    row = dict.fromkeys(INFO) | {"status": "FINISHED", "experiment": "E", "model": "m.Net", "batch_size": 32}
    frame = pd.DataFrame(
        [
            {**row, "run_id": "parent00", "role": "sweep", "sweep": "s", "batch_size": None},
            {**row, "run_id": "trial000", "sweep": "s", "trial": 0, "trial_state": "COMPLETE", "optim.lr": 0.1},
            {**row, "run_id": "trial001", "sweep": "s", "trial": 1, "trial_state": "PRUNED", "optim.lr": 1e-6},
        ]
    )
    frame["eval/accuracy"] = [None, 0.9, 0.1]
    text, left_out = summary(frame)
    assert text.splitlines() == [
        "     run   status trial optim.lr eval/accuracy",
        "parent00 FINISHED                             ",
        "trial000 FINISHED     0      0.1           0.9",
        "trial001   PRUNED     1    1e-06           0.1",
    ]
    assert left_out == 0


def test_a_trial_of_several_seeds_shows_their_mean_and_spread_and_its_seeds_their_trial():
    from antelope.results.table import INFO, summary

    row = dict.fromkeys(INFO) | {"status": "FINISHED", "experiment": "E", "model": "m.Net", "batch_size": 32}
    trial = {"sweep": "s", "trial": 0, "trial_state": "COMPLETE", "optim.lr": 0.1, "batch_size": None}
    frame = pd.DataFrame(
        [
            {**row, "run_id": "parent00", "role": "sweep", "sweep": "s", "batch_size": None},
            {**row, **trial, "run_id": "trial000", "parent_run_id": "parent00", "seeds": 2, "model": None},
            {**row, "run_id": "seed0000", "parent_run_id": "trial000", "sweep": "s", "trial": 0, "optim.lr": 0.1},
            {**row, "run_id": "seed0001", "parent_run_id": "trial000", "sweep": "s", "trial": 0, "optim.lr": 0.1},
        ]
    )
    frame["seed"] = [None, None, 0, 1]
    frame["eval/accuracy"] = [None, 0.85, 0.8, 0.9]
    text, left_out = summary(frame)
    assert text.splitlines() == [  # batch_size and model are the same in every run that trained
        "     run   status trial seed eval/accuracy eval/accuracy_std",
        "parent00 FINISHED                                           ",
        "trial000 FINISHED     0               0.85           0.07071",
        "seed0000 FINISHED     0    0           0.8                  ",
        "seed0001 FINISHED     0    1           0.9                  ",
    ]
    assert left_out == 0


@pytest.mark.slow
def test_ml_runs_prints_the_summary_and_writes_every_column_to_csv(ids, workdir):
    done = run_ml("runs", "Digits", "--csv", "runs.csv")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1 + 8 and max(map(len, lines)) <= 100  # piped: the 100 columns of a terminal
    assert {"run", "status", "optim.lr", "eval/accuracy"} <= set(lines[0].split())
    assert ids["other"][:8] in done.stdout
    assert "more columns that differ between these runs: ml runs --wide" in done.stderr
    written = pd.read_csv(workdir / "runs.csv")
    assert list(written["run_id"]) == list(runs()["run_id"])
    assert {"batch_size", "optim.lr", "eval/accuracy", "parent_run_id"} <= set(written.columns)
    wide = run_ml("runs", "Digits", "--wide")
    assert {"run_id", "batch_size", "system/cpu_utilization_percentage"} & set(wide.stdout.splitlines()[0].split())
    assert f"trial 2: optim.lr={ids['trial_lrs'][2]:.4g}" in wide.stdout
    csv = run_ml("runs", "Digits", "--csv")  # to stdout
    assert csv.stdout.splitlines()[0] == ",".join(written.columns)

    bad = run_ml("runs", "Digts")
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.splitlines() == [bad.stderr.strip()] and bad.stderr.startswith("ml: error: unknown experiment")


def test_ml_runs_on_an_empty_store(capsys):
    from antelope.results.table import main

    assert main([]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "no runs in sqlite:///" in out.err
