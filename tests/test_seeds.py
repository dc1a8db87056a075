"""antelope.sweeps.seeds: a trial judged over several seeds (sweep.seeds=N). In memory (a real Optuna storage): a
trial one of whose seeds pruned or failed it elsewhere ends so, closing its seeds nobody took; bad input through
both doors before any run. In the end-to-end layer whole sweeps: one run per seed under the trial's run, the
trial's value their mean, its spread recorded, the best seed's model registered, a trial stopped mid-seed
continued with the seeds that finished kept, and a trial's seeds run side by side by several workers."""

import os
from types import SimpleNamespace

import mlflow
import pytest
from conftest import runs
from models import Model
from test_seed_queue import Plan, sweep_of

from antelope import ConfigError, sweep
from antelope.cli import main
from antelope.errors import Pruned
from antelope.sweeps import studies
from antelope.sweeps.seed_queue import PRUNED_AT

QUICK = dict(model=Model, train_steps=30, evaluate_per_steps=10, log_per_steps=10)


@pytest.mark.parametrize("ending", ["pruned", "failed"])
def test_a_trial_whose_seed_ended_it_elsewhere_ends_so_and_its_seeds_nobody_took_with_it(ending, monkeypatch):
    from optuna.trial import TrialState

    from antelope.sweeps import seed_queue, seeds

    storage, study, sown, ids = sweep_of(3)
    for seed_id in ids[:2]:  # seeds 0 and 1 run on another machine's workers
        studies.claim(storage, seed_id)
        studies.mark(storage, seed_id, studies.PROCESS, "elsewhere:1")
    trial_id = studies.trial_id(storage, study, 0)
    if ending == "pruned":
        studies.mark(storage, trial_id, PRUNED_AT, 20)
    else:
        studies.mark(storage, ids[1], "failure", "ValueError: nan in the loss")
        studies.finish(storage, ids[1], TrialState.FAIL)
    studies.take(storage, trial_id)  # this process runs the trial
    monkeypatch.setattr(seed_queue, "queue", lambda *queued: None)  # queued above
    trial = SimpleNamespace(storage=storage, study=study, id=trial_id, number=0, tags={}, run_name="trial 0")
    plan = Plan(3)
    plan.heartbeat, plan.retries = 10, 1
    expected = (
        Pruned,
        r"^trial 0 ends pruned at step 20 \(its seed on another worker found the mean of its seeds pruned\)$",
    )
    if ending == "failed":
        expected = (RuntimeError, r"^its seed 1 failed: ValueError: nan in the loss$")
    with pytest.raises(expected[0], match=expected[1]):
        seeds._train_seeds(trial, plan, [], "parent")
    assert sown.trials[2].state.name == ("PRUNED" if ending == "pruned" else "FAIL")  # never started
    assert sown.trials[0].state.name == "RUNNING"  # stops at its next evaluation (its sink reads the trial)


def test_ctrl_c_while_a_trial_waits_for_its_seeds_elsewhere_stops_it_to_be_continued(monkeypatch):
    """Not training, the trial's worker gets Ctrl-C as a KeyboardInterrupt: the trial stops as after a signal during
    training (released to the queue by its worker, antelope.sweeps.trial), not failed; its seeds keep running."""
    from antelope.sweeps import seed_queue, seeds
    from antelope.train import Interrupted

    storage, study, sown, ids = sweep_of(2)
    for seed_id in ids:  # both seeds run on another machine's workers
        studies.claim(storage, seed_id)
        studies.mark(storage, seed_id, studies.PROCESS, "elsewhere:1")
    trial_id = studies.trial_id(storage, study, 0)
    studies.take(storage, trial_id)

    def ctrl_c(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(seed_queue, "queue", lambda *queued: None)  # queued above
    monkeypatch.setattr(seeds.time, "sleep", ctrl_c)
    trial = SimpleNamespace(storage=storage, study=study, id=trial_id, number=0, tags={}, run_name="trial 0")
    plan = Plan(2)
    plan.heartbeat, plan.retries = 10, 1
    with pytest.raises(Interrupted, match=r"^stopped by signal SIGINT while its seeds ran on other workers$"):
        seeds._train_seeds(trial, plan, [], "parent")
    assert [t.state.name for t in sown.trials] == ["RUNNING", "RUNNING"]


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


@pytest.mark.slow
def test_parallel_workers_run_a_trials_seeds_side_by_side_into_one_trial(capfd):
    """sweep.workers=3 on one trial of 3 seeds (Sleepy: 5 s a run, little CPU): the workers that find no trial to
    start take the trial's waiting seeds, so its seed runs overlap on different workers, under the trial's one run,
    and the trial's value is their mean."""
    import optuna

    study = sweep(
        model="models.Sleepy",
        space={"optim.lr": [0.05]},
        sampler="grid",
        trials=1,
        seeds=3,
        workers=3,
        study="side",
        pruner="none",
        train_steps=100,
        evaluate_per_steps=50,
        log_per_steps=50,
    )
    [t] = studies.counted(study.trials)  # a worker that asked as another took the one trial left a surplus one
    assert t.state.name == "COMPLETE"
    client = mlflow.MlflowClient()
    table = runs("Digits")
    seed_runs = table[table["tags.mlflow.parentRunId"] == t.user_attrs["mlflow_run_id"]]
    assert sorted(seed_runs["params.seed"]) == ["0", "1", "2"] and set(seed_runs["status"]) == {"FINISHED"}
    assert seed_runs["tags.antelope.worker"].nunique() >= 2  # run by several workers
    spans = [(client.get_run(r).info.start_time, client.get_run(r).info.end_time) for r in seed_runs["run_id"]]
    assert any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1 :])  # side by side
    assert t.value == pytest.approx(seed_runs["metrics.kept/accuracy"].mean())
    from antelope.sweeps.studies import open_storage

    seed_trials = optuna.load_study(study_name="side:seeds", storage=open_storage("optuna.journal")).trials
    assert sorted(s.user_attrs["mlflow_run_id"] for s in seed_trials) == sorted(seed_runs["run_id"])
    assert [s.state.name for s in seed_trials] == ["COMPLETE"] * 3
    err = capfd.readouterr().err
    assert "ml: trial 0: eval/accuracy " in err and " over 3 seeds (std " in err
