"""antelope.sweeps.seeds: a trial judged over several seeds (sweep.seeds=N). The seed runs' sink on its own (the
pruner sees only means), bad input through both doors before any run, and in the end-to-end layer whole sweeps:
one run per seed under the trial's run, the trial's value their mean, its spread recorded, the best seed's model
registered, and a trial stopped mid-seed continued with the seeds that finished kept."""

import os
from types import SimpleNamespace

import mlflow
import pytest
from conftest import runs
from models import Model

from antelope import ConfigError, sweep
from antelope.cli import main
from antelope.errors import Pruned
from antelope.sweeps.seeds import SeedSink

QUICK = dict(model=Model, train_steps=30, evaluate_per_steps=10, log_per_steps=10)


class Reports:
    """An Optuna trial as the sink uses it: what was reported, and a pruner that prunes below `floor`."""

    def __init__(self, floor=float("-inf")):
        self.reported, self.floor = {}, floor

    def report(self, value, step):
        self.reported[step] = value

    def should_prune(self):
        return self.reported[max(self.reported)] < self.floor


def trial(optuna):
    checked = []
    return SimpleNamespace(
        number=4,
        run_name="trial 4: lr=0.1",
        tags={"antelope.sweep": "s", "antelope.trial": "4"},
        objective="eval/accuracy",
        optuna=optuna,
        check_owner=checked.append,
        checked=checked,
    )


def test_only_the_last_seed_reports_and_it_reports_the_mean_of_every_seed_at_that_step():
    optuna = Reports()
    owner = trial(optuna)
    first = SeedSink(owner, "parent", 0, 3, [])
    for step, value in ((10, 0.5), (20, 0.7)):
        first({"eval/accuracy": value, "train/loss": 1.0}, step, flush=True)
    assert optuna.reported == {} and first.curve == {10: 0.5, 20: 0.7} and owner.checked == [10, 20]
    second = {10: 0.6, 20: 0.8}
    last = SeedSink(owner, "parent", 2, 3, [first.curve, second])
    last({"train/loss": 1.0}, 5, flush=False)  # no evaluation: nothing to report
    last({"eval/accuracy": 0.7}, 10, flush=True)
    last({"eval/accuracy": 0.9}, 20, flush=True)
    assert optuna.reported == pytest.approx({10: 0.6, 20: 0.8})
    assert last.parent_run_id == "parent" and last.run_name == "seed 2 of trial 4: lr=0.1"
    assert last.tags == {"antelope.sweep": "s", "antelope.seed_of_trial": "4", "antelope.seed_index": "2"}


def test_the_pruner_judges_the_mean_not_the_last_seed_alone():
    owner = trial(Reports(floor=0.5))
    last = SeedSink(owner, "parent", 1, 2, [{10: 0.1}])
    with pytest.raises(Pruned, match=r"trial 4 pruned at step 10: eval/accuracy 0.45, the mean of 2 seeds"):
        last({"eval/accuracy": 0.8}, 10, flush=True)  # 0.8 alone would pass


@pytest.mark.parametrize(
    "given, message",
    [
        (["sweep.seeds=0"], r"^sweep.seeds=0 must be at least 1 \(runs per trial, one per seed\)$"),
        (["sweep.seeds=-1"], r"^sweep.seeds=-1 must be at least 1 "),
        (["sweep.seeds=2.5"], r"^bad value for sweep.seeds: Value '2.5' of type 'float' could not be converted"),
        (["sweep.seeds=3", "sweep.warm_start=Digits"], r"^sweep.warm_start=Digits: a sweep of 3 seeds per trial "),
    ],
)
def test_bad_seeds_are_one_line_before_any_run(given, message, capsys):
    with pytest.raises(ConfigError, match=message):
        sweep(*given, space={"optim.lr": [0.001, 0.1]}, sampler="grid", **QUICK)
    assert main(["-m", "optim.lr=choice(0.001,0.1)", "train_steps=30", *given]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ml: error: ")
    assert runs().empty  # nothing recorded, nothing left RUNNING


@pytest.mark.slow  # two trials of three seeds each
def test_a_trial_of_three_seeds_is_their_mean_with_its_spread_and_registers_its_best_seed(capsys):
    study = sweep(space={"optim.lr": [0.001, 0.1]}, sampler="grid", trials=2, seeds=3, register="seeded", **QUICK)
    client = mlflow.MlflowClient()
    table = runs("Digits")
    for t in study.trials:
        trial_run = t.user_attrs["mlflow_run_id"]
        seeds = table[table["tags.mlflow.parentRunId"] == trial_run].sort_values("tags.antelope.seed_index")
        names = [f"seed {i} of trial {t.number}: optim.lr={t.params['optim.lr']:g}" for i in range(3)]
        assert list(seeds["tags.mlflow.runName"]) == names
        assert list(seeds["params.seed"]) == ["0", "1", "2"] and set(seeds["status"]) == {"FINISHED"}
        kept = list(seeds["metrics.kept/accuracy"])
        assert t.value == pytest.approx(sum(kept) / 3) and t.user_attrs["seeds_min"] == min(kept)
        assert t.user_attrs["seeds_max"] == max(kept) and t.user_attrs["seeds_std"] > 0
        best_seed = seeds.loc[seeds["metrics.kept/accuracy"].idxmax(), "run_id"]
        assert t.user_attrs["best_seed_run_id"] == best_seed
        histories = [{m.step: m.value for m in client.get_metric_history(r, "eval/accuracy")} for r in seeds["run_id"]]
        means = {step: sum(h[step] for h in histories) / 3 for step in (10, 20, 30)}
        assert t.intermediate_values == pytest.approx(means)  # the pruner saw means at the same step
        recorded = client.get_run(trial_run).data
        assert recorded.metrics["kept/accuracy"] == pytest.approx(t.value) and recorded.tags["antelope.seeds"] == "3"
        assert client.get_run(trial_run).info.status == "FINISHED"
    best = study.best_trial.user_attrs["best_seed_run_id"]
    [version] = client.search_model_versions("name = 'seeded'")
    assert version.run_id == best
    out, err = capsys.readouterr()
    assert f"(run {best}, the best seed's of the best trial) is registered as seeded version 1" in err
    header = out.split("best trials (highest first):\n")[1].splitlines()[0]
    assert header.split()[:5] == ["trial", "value", "std", "min", "max"]  # the summary shows the spread
    assert f"ml reproduce={best}" in out  # the best seed's run reproduces

    from antelope import runs as antelope_runs
    from antelope.results.table import summary

    frame = antelope_runs("Digits")  # `ml runs`: each seed's run carries its trial's number, the trial's its seeds
    for t in study.trials:
        of_trial = frame[frame["trial"] == t.number]
        assert len(of_trial) == 4 and of_trial["seeds"].eq(3).sum() == 1 and of_trial["seeds"].isna().sum() == 3
    text, _ = summary(frame, width=200)
    lines = text.splitlines()
    assert lines[0].split()[-2:] == ["eval/accuracy", "eval/accuracy_std"]  # the mean, and beside it the spread
    trial_row = next(line for line in lines if line.startswith(study.best_trial.user_attrs["mlflow_run_id"][:8]))
    seeds = frame[frame["parent_run_id"] == study.best_trial.user_attrs["mlflow_run_id"]]["eval/accuracy"]
    assert trial_row.split()[-1] == f"{seeds.std():.4g}"

    from antelope import plot

    drawn = {os.path.relpath(path, "plots") for path in plot(experiment="Digits", log=False)}
    sweep_folder = os.path.join("Digits", study.study_name)  # its trials are drawn there, not as sweeps of their own
    files = ("learning_curves.png", "sweep_objective.png", "sweep_params.png", "param_importances.png")
    assert drawn == {os.path.join(sweep_folder, file) for file in files}, drawn

    space = {"optim.lr": "interval(0.001, 0.1)"}  # a sweep of 3 seeds starts from this one's trials
    again = sweep(space=space, trials=1, seeds=3, warm_start=study.study_name, study="warm", **QUICK)
    added = [t for t in again.trials if "warm_start_from" in t.user_attrs]
    assert sorted(t.value for t in added) == sorted(t.value for t in study.trials) and len(again.trials) == 3
    assert "ml: sweep.warm_start=" in capsys.readouterr().err


@pytest.mark.slow
def test_a_trial_stopped_in_a_seed_continues_with_the_seeds_that_finished(capsys):
    from models import SignalsItself

    from antelope.train import Interrupted

    SignalsItself.calls, SignalsItself.fired = 0, False
    keys = dict(train_steps=30, evaluate_per_steps=10, log_per_steps=10, trials=1, seeds=2, study="stopped")
    with pytest.raises(Interrupted):  # SIGINT at the 35th learn: seed 1's 5th step
        sweep(model=SignalsItself, space={"optim.lr": [0.01]}, sampler="grid", **keys)
    table = runs("Digits")
    seed_runs = table[table["tags.antelope.seed_of_trial"] == "0"].sort_values("tags.antelope.seed_index")
    assert list(seed_runs["status"]) == ["FINISHED", "KILLED"]
    study = sweep(model=SignalsItself, space={"optim.lr": [0.01]}, sampler="grid", **keys)  # the same sweep again
    [t] = study.trials
    assert t.state.name == "COMPLETE"
    table = runs("Digits")
    seed_runs = table[table["tags.antelope.seed_of_trial"] == "0"].sort_values("tags.antelope.seed_index")
    assert list(seed_runs["status"]) == ["FINISHED", "FINISHED"] and len(seed_runs) == 2  # no seed run again
    assert list(seed_runs["tags.resume_count"].fillna("0")) == ["0", "1"]  # seed 0 kept, seed 1 resumed
    assert t.value == pytest.approx(seed_runs["metrics.kept/accuracy"].mean())
