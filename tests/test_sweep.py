"""Sweeps through both doors: `antelope.sweep(...)` in Python (tiny budgets: Digits, 30 steps) and, in the
end-to-end layer, `ml -m ...` in a subprocess, with worker processes, PostgreSQL and every preset in sweeps/.

One sweep = one Optuna study = one MLflow parent run; every trial one child run.
"""

import re
import shlex
import subprocess
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
import torch
from conftest import ML, run_ml, runs
from models import Model

from antelope import ConfigError, sweep
from antelope.sweeps import studies

MODELS = Path(__file__).parent / "models.py"
SWEEPS = Path(__file__).parent.parent / "sweeps"
FAST = ["train_steps=30", "evaluate_per_steps=10", "log_per_steps=10"]
QUICK = dict(model=Model, train_steps=30, evaluate_per_steps=10, log_per_steps=10)
SPACE = [
    "optim.lr=tag(log, interval(1e-3, 1e-1))",
    "optim=choice(SGD, Adam)",
    "lr_decay_epochs=int(interval(10, 1000))",
]


def parent_and_children(table):
    parent = table[table["tags.antelope.role"] == "sweep"]
    assert len(parent) == 1
    children = table[table["tags.mlflow.parentRunId"] == parent["run_id"].iloc[0]]
    return parent.iloc[0], children.sort_values("tags.antelope.trial", key=lambda s: s.astype(int))


@pytest.mark.slow
def test_console_sweep_is_a_parent_run_with_a_child_run_per_trial_and_prints_a_command_that_reproduces_it():
    done = run_ml("-m", f"model={MODELS}:Model", *SPACE, "sweep.trials=3", *FAST)
    assert done.returncode == 0, done.stderr
    parent, children = parent_and_children(runs("Digits"))
    study = parent["tags.antelope.sweep"]
    assert parent["tags.mlflow.runName"] == study and parent["status"] == "FINISHED"
    assert parent["params.space.optim.lr"] == "tag(log, interval(1e-3, 1e-1))"
    assert (parent["params.sweep.sampler"], parent["params.sweep.pruner"]) == ("tpe", "median")
    assert list(children["tags.antelope.trial"]) == ["0", "1", "2"]
    assert set(children["tags.antelope.sweep"]) == {study} and set(children["status"]) == {"FINISHED"}
    assert set(children["tags.antelope.trial_state"]) == {"COMPLETE"}
    for _, child in children.iterrows():  # the drawn values are params (the resolved config) and in the name
        assert child["tags.mlflow.runName"].startswith(f"trial {child['tags.antelope.trial']}: optim.lr=")
        assert child["params.optim._target_"].rsplit(".", 1)[1] in ("SGD", "Adam")
        assert 1e-3 <= float(child["params.optim.lr"]) <= 1e-1
        assert 10 <= int(child["params.scheduler.T_max"]) <= 1000
    client = mlflow.MlflowClient()
    best = client.get_metric_history(parent["run_id"], "sweep/best_value")
    assert [m.step for m in best] == [0, 1, 2]
    assert best[-1].value == children["metrics.eval/accuracy"].max()
    artifacts = {a.path for a in client.list_artifacts(parent["run_id"])}
    assert {"trials.csv", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(parent["run_id"], "plots")}
    # drawn as `ml plot` draws them
    assert plots == {"plots/sweep_objective.png", "plots/sweep_params.png", "plots/param_importances.png"}

    # the console's summary: the table, the best params and the command that reproduces the best trial
    assert "best trials (highest first):" in done.stdout and "best params: {" in done.stdout
    command, rerun = (line.strip() for line in done.stdout.strip().splitlines()[-2:])
    assert command.startswith(f"ml model={MODELS}:Model train_steps=30 ") and "'" not in command  # readable
    again = run_ml(*shlex.split(command)[1:], "experiment=again")
    assert again.returncode == 0, again.stderr
    assert runs("again")["metrics.eval/accuracy"][0] == best[-1].value  # the same number, exactly
    best_run = children.loc[children["metrics.eval/accuracy"].idxmax(), "run_id"]
    assert rerun == f"(or: ml reproduce={best_run})"  # the trial's recorded config, as a new run
    reproduced = run_ml(rerun[5:-1].split()[1], "experiment=reproduced")
    assert reproduced.returncode == 0, reproduced.stderr
    assert runs("reproduced")["metrics.eval/accuracy"][0] == best[-1].value
    assert runs("reproduced")["tags.antelope.reproduced_from"][0] == best_run
    # (the same command again resumes the sweep: test_the_same_sweep_again_resumes_... does it in-process)


@pytest.mark.slow  # a whole sweep of several trials: the end-to-end layer
def test_keys_of_an_optimizer_are_drawn_only_when_the_drawn_optimizer_takes_them():
    study = sweep(
        space={"optim": ["SGD", "Adam"], "optim.momentum": "interval(0.5, 0.9)"}, sampler="random", trials=4, **QUICK
    )
    drawn = {t.params["optim"] for t in study.trials}
    assert drawn == {"SGD", "Adam"}
    for trial in study.trials:
        assert ("optim.momentum" in trial.params) == (trial.params["optim"] == "SGD")
    _, children = parent_and_children(runs("Digits"))
    momentum = children.set_index("tags.antelope.trial")["params.optim.momentum"]
    for trial in study.trials:  # Adam's config has no momentum at all; SGD's is the drawn one
        expected = str(trial.params["optim.momentum"]) if trial.params["optim"] == "SGD" else None
        assert (momentum[str(trial.number)] if isinstance(momentum[str(trial.number)], str) else None) == expected


@pytest.mark.slow  # a whole sweep of several trials: the end-to-end layer
def test_a_trial_below_the_median_is_pruned_and_keeps_its_partial_curve(capsys):
    study = sweep(space={"optim.lr": "choice(1e-6, 3e-2)"}, sampler="random", trials=8, **QUICK)
    states = [t.state for t in study.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) >= 1, states
    told = re.findall(r"ml: trial (\d+) pruned at step \d+: eval/accuracy [\d.]+\n", capsys.readouterr().err)
    assert sorted(int(n) for n in told) == [t.number for t in study.trials if t.state.name == "PRUNED"]
    _, children = parent_and_children(runs("Digits"))
    pruned = children[children["tags.antelope.trial_state"] == "PRUNED"]
    assert set(pruned["status"]) == {"FINISHED"} and set(pruned["tags.pruned"]) == {"true"}  # not a failure
    assert all(re.match(r"trial \d+ \(pruned at step \d+\): optim.lr=", name) for name in pruned["tags.mlflow.runName"])
    assert set(pruned["params.optim.lr"]) == {"1e-06"}  # the hopeless learning rate
    history = mlflow.MlflowClient().get_metric_history(pruned["run_id"].iloc[0], "eval/accuracy")
    assert 0 < len(history) < 3  # stopped after its first evaluation(s), before step 30


class Fragile(Model):
    def __init__(self, in_features, out_features, crash=False):
        super().__init__(in_features, out_features)
        self.crash = crash

    def learn(self, replay):
        if self.crash:
            raise RuntimeError("this trial crashes")
        return super().learn(replay)


@pytest.mark.slow  # a whole sweep of several trials: the end-to-end layer
def test_a_crashing_trial_is_fail_and_the_sweep_goes_on():
    study = sweep(space={"model.crash": [True, False]}, sampler="grid", trials=10, **{**QUICK, "model": Fragile})
    by_value = {t.params["model.crash"]: t for t in study.trials}
    assert len(study.trials) == 2  # a grid has two points here
    assert by_value[True].state.name == "FAIL" and by_value[False].state.name == "COMPLETE"
    _, children = parent_and_children(runs("Digits"))
    assert dict(zip(children["tags.antelope.trial_state"], children["status"], strict=True)) == {
        "FAIL": "FAILED",
        "COMPLETE": "FINISHED",
    }


@pytest.mark.slow
def test_two_machines_share_one_study_and_parent_run_through_postgresql(postgres):
    storage = postgres("optuna")
    command = [ML, "-m", f"model={MODELS}:Model", *SPACE, "sweep.trials=6", f"sweep.storage={storage}", *FAST]
    machines = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for machine in machines:
        _, stderr = machine.communicate(timeout=300)
        assert machine.returncode == 0, stderr
    parent, children = parent_and_children(runs("Digits"))
    assert parent["status"] == "FINISHED"
    assert sorted(children["tags.antelope.trial"].astype(int)) == list(range(6))  # none lost, none twice
    assert len(set(children["tags.antelope.pid"])) == 2  # both machines ran trials
    study = optuna.load_study(study_name=parent["tags.antelope.sweep"], storage=storage)
    # a machine that asked for a trial as the other took the last one records it as surplus (FAIL), unrun
    trained = studies.counted(study.trials)
    assert [t.number for t in trained] == list(range(6))
    assert all(t.state.name == "FAIL" and "mlflow_run_id" not in t.user_attrs for t in study.trials[6:])
    assert {t.user_attrs["mlflow_run_id"] for t in trained} == set(children["run_id"])


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(p.stem for p in SWEEPS.glob("*.yaml")))
def test_every_preset_runs_from_the_console(preset, capsys):
    from antelope.cli import main  # the console's entry point; the console as a process is tested above

    assert (
        main(["-m", f"sweep={preset}", "sweep.trials=2", f"sweep.study={preset}", f"model={MODELS}:Model", *FAST]) == 0
    ), capsys.readouterr().err
    study = optuna.load_study(
        study_name=preset,
        storage=optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("optuna.journal")),
    )
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    if preset == "default":  # the three things Antelope is known for
        assert set(study.trials[0].params) == {"lr", "lr_decay_epochs", "optim"}


def test_bad_input_is_one_line_exit_2_before_any_trial(capsys):
    from antelope.cli import main

    for args, message in [
        (["optim.lr=interval(1e-5"], "cannot parse override"),
        (["sweep.storage=postgresql://nobody@127.0.0.1:1/none", *SPACE], "cannot reach sweep.storage="),
        (["lr=0.1,0.01", "sweep.trials=0"], "sweep.trials=0 must be at least 1"),
        (["lr=0.1,0.01", "sweep.direction=up"], "sweep.direction='up' is not valid"),
        (["lr=0.1,0.01", "sweep.launcher=slurmm"], "unknown sweep.launcher='slurmm' (did you mean 'slurm'?)"),
        (["lr=0.1,0.01", "sweep.slurm.gpu=1"], "unknown config key 'sweep.slurm.gpu'"),
    ]:
        assert main(["-m", *args, *FAST]) == 2, args
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1].startswith("ml: error: ") and message in err, (args, err)
        assert "Traceback" not in err
    choices = {"lr": "0.1,0.01"}
    for kwargs, message in [
        (dict(space={}), "the search space is empty"),
        (dict(space=choices, sampler="tpee"), "unknown sweep.sampler='tpee' (did you mean 'tpe'?)"),
        (dict(space=choices, pruner="medain"), "unknown sweep.pruner='medain' (did you mean 'median'?)"),
        (dict(preset="defualt"), "unknown sweep preset 'defualt' (did you mean 'default'?)"),
        (dict(space={"optim.momentm": "interval(0, 1)"}), "optim.momentm applies to none of the optim options"),
        (dict(space={"optim": "choice(SGD, Adamm)"}), "(did you mean 'Adam'?)"),
        (dict(space=choices, workers=2, storage="sqlite:///optuna.db"), "several processes cannot share"),
        (dict(space=choices, heartbeat=0), "sweep.heartbeat=0 must be at least 1 (seconds)"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            sweep(**kwargs, **QUICK)
    assert runs().empty  # no parent run, no trial


@pytest.mark.slow  # a whole sweep of several trials: the end-to-end layer
def test_several_objectives_make_a_pareto_front_recorded_on_the_parent_run_and_printed(capsys):
    from models import Deep

    study = sweep(
        "model.depth=1",
        space={"model.width": "int(interval(2, 64))"},
        objective=["eval/accuracy", "cost/parameters"],
        trials=5,
        **{**QUICK, "model": Deep},
    )
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert study.metric_names == ["eval/accuracy", "cost/parameters"]
    out, err = capsys.readouterr()
    assert "ml: sweep.pruner=median is off: Optuna prunes trials of one objective only" in err
    parent, children = parent_and_children(runs("Digits"))
    assert (parent["params.sweep.objective"], parent["params.sweep.direction"]) == (
        "eval/accuracy,cost/parameters",
        "maximize,minimize",
    )
    assert parent["params.sweep.pruner"] == "none" and parent["status"] == "FINISHED"
    # each trial's values are its run's: the final accuracy and the parameter count it recorded
    by_number = {t.number: t for t in study.trials}
    for _, child in children.iterrows():
        trial = by_number[int(child["tags.antelope.trial"])]
        assert trial.values == [child["metrics.eval/accuracy"], child["metrics.cost/parameters"]]
    front = {t.number for t in study.best_trials}

    def dominated(t):
        return any(
            o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in study.trials
        )

    assert front == {t.number for t in study.trials if not dominated(t)}  # Optuna's front is the real one
    client = mlflow.MlflowClient()
    table = pd.read_csv(client.download_artifacts(parent["run_id"], "pareto_front.csv"))
    assert set(table["trial"]) == front and list(table.columns[:3]) == ["trial", "eval/accuracy", "cost/parameters"]
    assert "plots/pareto_front.png" in {a.path for a in client.list_artifacts(parent["run_id"], "plots")}
    assert f"Pareto front ({len(front)} of 5 complete trials; maximize eval/accuracy, minimize cost/parameters):" in out
    commands = [line for line in out.splitlines() if line.startswith("  trial ")]
    assert sorted(int(line.split()[1].rstrip(":")) for line in commands) == sorted(front)
    assert all("model.width=" in line and " ml " in line for line in commands)
    # `ml plot` draws the front again from the runs and the front the sweep recorded
    from antelope import plot

    drawn = plot(experiment="Digits", log=False, folder="again")
    assert f"again/Digits/{study.study_name}/pareto_front.png" in drawn


def test_several_objectives_bad_input_is_one_line():
    choices = {"lr": "0.1,0.01"}
    for kwargs, message in [
        (
            dict(objective=["eval/accuracy", "cost/parameters"], direction=["maximize"]),
            "sweep.direction=['maximize'] gives 1 directions for 2 objectives",
        ),
        (dict(objective=["eval/accuracy", "train/loss"]), "sweep.objective=train/loss has no known direction"),
        (dict(objective=["eval/accuracy", "eval/accuracy"]), "names a metric twice"),
        (dict(objective=["eval/accuracy", "cost/parameters"], sampler="cmaes"), "sweep.sampler=cmaes optimizes one"),
        (dict(objective=["eval/accuracy", "cost/parameters"], register="best"), "has a Pareto front"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            sweep(space=choices, **kwargs, **QUICK)
    assert runs().empty


@pytest.mark.slow  # a whole sweep of several trials: the end-to-end layer
def test_enqueued_configs_are_the_first_trials_and_are_not_queued_again(tmp_path):
    (tmp_path / "first.yaml").write_text("- {optim.lr: 0.05, optim: SGD}\n- optim.lr: 0.002\n")
    space = {"optim.lr": "tag(log, interval(1e-3, 1e-1))", "optim": "choice(SGD, Adam)"}
    study = sweep(space=space, trials=2, enqueue=str(tmp_path / "first.yaml"), **QUICK)
    assert [t.params["optim.lr"] for t in study.trials] == [0.05, 0.002]  # every trial enqueued: both ran
    assert study.trials[0].params["optim"] == "SGD" and [t.state.name for t in study.trials] == ["COMPLETE"] * 2
    again = sweep(space=space, trials=3, enqueue=str(tmp_path / "first.yaml"), **QUICK)  # resumed, one more
    assert len(again.trials) == 3 and [t.params["optim.lr"] for t in again.trials[:2]] == [0.05, 0.002]
    _, children = parent_and_children(runs("Digits"))
    assert list(children["tags.antelope.trial"]) == ["0", "1", "2"]
    assert float(children["params.optim.lr"].iloc[0]) == 0.05


def test_enqueue_bad_input_is_one_line(tmp_path):
    choices = {"optim.lr": "interval(1e-3, 1e-1)"}
    for text, message in [
        ("- {lr: 0.01}\n", "config 1 sets lr, which the sweep does not search"),
        ("- {optim.lr: 5}\n", "config 1 sets optim.lr=5, outside interval(1e-3, 1e-1)"),
        ("optim.lr: 0.01\n", "must be a YAML list of mappings"),
        ("- {optim.lr: 0.01}\n- {optim.lr: 0.02}\n", "has 2 configs, more than sweep.trials=1"),
    ]:
        (tmp_path / "q.yaml").write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            sweep(space=choices, trials=1, enqueue=str(tmp_path / "q.yaml"), **QUICK)
    (tmp_path / "q.yaml").write_text("- {optim.lr: 0.01}\n- {optim.lr: 5}\n")  # the second bad: none queued
    with pytest.raises(ConfigError, match="config 2 sets optim.lr=5"):
        sweep(space=choices, trials=2, enqueue=str(tmp_path / "q.yaml"), study="half", **QUICK)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("optuna.journal"))
    assert optuna.load_study(study_name="half", storage=storage).trials == []
    with pytest.raises(ConfigError, match="sweep.enqueue=nowhere.yaml: no such file"):
        sweep(space=choices, trials=1, enqueue="nowhere.yaml", **QUICK)


@pytest.mark.slow  # a whole sweep of several trials: the end-to-end layer
def test_a_warm_start_adds_earlier_runs_and_a_studys_trials_as_complete_trials_not_counted(capsys):
    from models import SelfOptimizing, Wider

    from antelope import ml

    earlier = [ml(**QUICK, experiment="earlier", **{"optim.lr": lr}) for lr in (0.003, 0.03)]
    ml(**QUICK, experiment="earlier", **{"optim.lr": 5.0})  # outside the space: left out
    wider = ml(**{**QUICK, "model": Wider}, experiment="earlier", **{"optim.lr": 0.01})  # another model
    own = ml(**{**QUICK, "model": SelfOptimizing}, experiment="earlier")  # its own optimizer
    cosine = ml(**QUICK, experiment="earlier", **{"optim.lr": 0.01}, lr_decay_epochs=10)  # a schedule
    space = {"optim.lr": "tag(log, interval(1e-3, 1e-1))"}
    study = sweep(space=space, trials=2, warm_start="earlier", **QUICK)
    told = [line for line in capsys.readouterr().err.splitlines() if "sweep.warm_start" in line]
    assert told == [
        "ml: sweep.warm_start=earlier: 2 earlier results added as complete trials; 3 runs left out as not comparable "
        f"(model._target_ differs in 2: {wider.run_id[:8]}, {own.run_id[:8]}; scheduler._target_ differs in 1: "
        f"{cosine.run_id[:8]}), 1 left out lacking a key or an objective, or outside the space"
    ]
    warm, own = study.trials[:2], study.trials[2:]
    assert [t.params["optim.lr"] for t in warm] == [0.003, 0.03]
    assert [t.value for t in warm] == [r.metrics["eval/accuracy"] for r in earlier]
    assert [t.user_attrs["warm_start_from"] for t in warm] == [f"run {r.run_id}" for r in earlier]
    assert len(own) == 2 and all(t.state.name == "COMPLETE" for t in own)  # sweep.trials counts its own
    _, children = parent_and_children(runs("Digits"))
    assert list(children["tags.antelope.trial"]) == ["2", "3"]

    # a study of the same storage: its complete trials (the 4 above) start another sweep of the same objective
    other = sweep(space={"optim.lr": "interval(1e-3, 1e-1)"}, trials=1, warm_start=study.study_name, **QUICK)
    assert [t.params["optim.lr"] for t in other.trials[:4]] == [t.params["optim.lr"] for t in study.trials]
    assert len(other.trials) == 5
    with pytest.raises(ConfigError, match="sweep.warm_start=nothing names no study in the sweep's storage"):
        sweep(space=space, trials=1, warm_start="nothing", study="fresh", **QUICK)
    # no comparable run (another dataset): one line, and no study or parent run is left behind
    with pytest.raises(ConfigError) as error:
        sweep(space=space, trials=1, warm_start="earlier", study="unstarted", dataset="FakeData", image_size=8, **QUICK)
    assert str(error.value).startswith("sweep.warm_start=earlier: no earlier result to start from; 6 runs left out")
    assert "(dataset differs in 4: " in str(error.value) and "; model._target_ differs in 2: " in str(error.value)
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend("optuna.journal"))
    assert "unstarted" not in optuna.get_all_study_names(journal)
    assert mlflow.get_experiment_by_name("FakeData") is None  # no parent run was started


def test_an_objective_that_is_never_logged_stops_after_the_first_trial():
    with pytest.raises(ConfigError, match="sweep.objective=eval/acc was never logged by trial 0"):
        sweep(space={"lr": [0.1, 0.01]}, objective="eval/acc", direction="maximize", **QUICK)
    parent, children = parent_and_children(runs("Digits"))
    assert parent["status"] == "FAILED" and len(children) == 1
    assert children["tags.antelope.trial_state"].iloc[0] == "FAIL"
    assert "RUNNING" not in set(runs()["status"])


@pytest.mark.slow  # a whole sweep of several trials: the end-to-end layer
def test_the_same_sweep_again_resumes_its_study_and_parent_run_up_to_its_trials():
    first = sweep(space={"optim.lr": "tag(log, interval(1e-3, 1e-1))"}, trials=2, **QUICK)
    again = sweep(space={"optim.lr": "tag(log, interval(1e-3, 1e-1))"}, trials=3, **QUICK)
    assert again.study_name == first.study_name and len(again.trials) == 3
    parent, children = parent_and_children(runs("Digits"))
    assert list(children["tags.antelope.trial"]) == ["0", "1", "2"] and parent["status"] == "FINISHED"
    assert parent["tags.antelope.sweep.trials"] == "3"
    drawn = [t.params["optim.lr"] for t in again.trials]
    assert len(set(drawn)) == 3  # the resumed sampler draws anew, not the first trials' values again


def test_register_puts_the_best_trials_model_in_the_model_registry_when_the_sweep_ends(capsys):
    import mlflow.pytorch

    study = sweep(space={"optim.lr": [0.001, 0.1]}, sampler="grid", trials=2, register="digits-best", **QUICK)
    best = study.best_trial.user_attrs["mlflow_run_id"]
    [version] = mlflow.MlflowClient().search_model_versions("name = 'digits-best'")
    assert (int(version.version), version.run_id) == (1, best)
    parent, _ = parent_and_children(runs("Digits"))
    assert parent["tags.antelope.registered"] == "digits-best/1"
    assert f"the best trial's model (run {best}) is registered as digits-best version 1" in capsys.readouterr().err
    assert isinstance(mlflow.pytorch.load_model("models:/digits-best/1"), torch.nn.Module)


def test_an_rl_sweep_keeps_its_parent_and_trials_in_the_envs_experiment():
    study = sweep(
        env="CartPole-v1",
        space={"optim.lr": [1e-3, 1e-2]},
        sampler="grid",
        train_steps=30,
        random_steps=10,
        evaluate_episodes=1,
        evaluate_per_steps=0,
    )
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert study.direction.name == "MAXIMIZE"  # eval/return: more is better
    assert study.best_value == max(t.value for t in study.trials)
    assert study.study_name.startswith("CartPole-v1-sweep-")
    parent, children = parent_and_children(runs("CartPole-v1"))  # one experiment holds the whole sweep
    assert len(children) == 2 and parent["params.sweep.objective"] == "eval/return"
    assert runs("CartPole-v1")["experiment_id"].nunique() == 1 and "Digits" not in runs().columns
