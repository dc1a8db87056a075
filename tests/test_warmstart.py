"""antelope.sweeps.warmstart on studies made here (no training): configs queued first, checked before any is
queued; earlier runs (made with MLflow's client) and a study's trials added as complete trials, the runs not
comparable with the sweep's config and the ones that do not fit left out, counted and named."""

import mlflow
import optuna
import pytest

from antelope import ConfigError
from antelope.sweeps.space import Space
from antelope.sweeps.warmstart import ADDED, SOURCE, enqueue, warm_start

SPACE = Space.parse(["optim.lr=interval(1e-3, 1e-1)", "optim=choice(SGD, Adam)"])


def test_queued_configs_are_the_studys_next_trials_once(tmp_path):
    (tmp_path / "first.yaml").write_text("- {optim.lr: 0.05, optim: SGD}\n- {optim.lr: 0.002}\n")
    study = optuna.create_study(direction="maximize")
    enqueue(study, SPACE, str(tmp_path / "first.yaml"), trials=5)
    enqueue(study, SPACE, str(tmp_path / "first.yaml"), trials=5)  # the same sweep run again queues nothing more
    queued = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in queued] == [{"optim.lr": 0.05, "optim": "SGD"}, {"optim.lr": 0.002}]


@pytest.mark.parametrize(
    "text, error",
    [
        ("- {optim.lr: 0.05}\n- {batch_size: 32}\n", r"config 2 sets batch_size, which the sweep does not search"),
        ("- {optim.lr: 5.0}\n", r"config 1 sets optim.lr=5.0, outside interval\(1e-3, 1e-1\)"),
        ("- {optim: Lion}\n", r"config 1 sets optim=Lion, outside choice\(SGD, Adam\)"),
        ("optim.lr: 0.05\n", "must be a YAML list of mappings"),
        ("- {optim.lr: 0.05}\n- {optim.lr: 0.01}\n- {optim.lr: 0.02}\n", "has 3 configs, more than sweep.trials=2"),
    ],
)
def test_a_bad_queue_is_one_line_and_queues_nothing(tmp_path, text, error):
    (tmp_path / "q.yaml").write_text(text)
    study = optuna.create_study(direction="maximize")
    with pytest.raises(ConfigError, match=error):
        enqueue(study, SPACE, str(tmp_path / "q.yaml"), trials=2)
    assert study.trials == []
    with pytest.raises(ConfigError, match="sweep.enqueue=nowhere.yaml: no such file"):
        enqueue(study, SPACE, "nowhere.yaml", trials=2)


def finished_run(client, experiment, params, metrics):
    run = client.create_run(experiment)
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value)
    for key, value in metrics.items():
        client.log_metric(run.info.run_id, key, value)
    client.set_terminated(run.info.run_id)
    return run.info.run_id


# The sweep's config (flat, as sweep.py composes it): what an earlier run must match outside the swept keys.
CONFIG = {
    "model._target_": "models.Model",
    "dataset": "Digits",
    "batch_size": 32,
    "optim._target_": "torch.optim.adam.Adam",
    "optim.lr": 0.001,
    "scheduler": None,
    "experiment": "new",
    "seed": 0,
}
LIKE = {"model._target_": "models.Model", "dataset": "Digits", "batch_size": 32, "seed": 0, "model.in_features": 64}


def test_an_experiments_comparable_finished_runs_become_complete_trials_the_rest_left_out_counted_and_named(capsys):
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("earlier")
    sgd = {"optim._target_": "torch.optim.sgd.SGD"}
    fits = finished_run(  # another experiment name is bookkeeping; the filled in_features are the data's
        client, experiment, {**LIKE, "experiment": "earlier", **sgd, "optim.lr": 0.01}, {"eval/accuracy": 0.8}
    )
    outside = {**LIKE, **sgd, "optim.lr": 0.5}  # outside the space
    finished_run(client, experiment, outside, {"eval/accuracy": 0.9})
    finished_run(client, experiment, {**LIKE, "optim._target_": "torch.optim.adam.Adam", "optim.lr": 0.02}, {})
    other_model = finished_run(
        client, experiment, {**LIKE, "model._target_": "models.Deep", **sgd, "optim.lr": 0.01}, {"eval/accuracy": 0.9}
    )
    bigger = finished_run(client, experiment, {**LIKE, "batch_size": 64, **sgd}, {"eval/accuracy": 0.9})
    cosine = {"scheduler._target_": "torch.optim.lr_scheduler.CosineAnnealingLR", "scheduler.T_max": 10}
    scheduled = finished_run(client, experiment, {**LIKE, **sgd, "optim.lr": 0.01, **cosine}, {"eval/accuracy": 0.9})
    client.create_run(experiment)  # still running: not a result
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    assert warm_start(study, storage, SPACE, "earlier", ("eval/accuracy",), ("maximize",), CONFIG) == 1
    (trial,) = study.trials
    assert trial.params == {"optim.lr": 0.01, "optim": "SGD"} and trial.value == 0.8
    assert trial.user_attrs == {SOURCE: f"run {fits}", "mlflow_run_id": fits} and study.user_attrs[ADDED] == 1
    assert capsys.readouterr().err == (
        "ml: sweep.warm_start=earlier: 1 earlier results added as complete trials; 3 runs left out as not comparable "
        f"(model._target_ differs in 1: {other_model[:8]}; batch_size differs in 1: {bigger[:8]}; "
        f"scheduler._target_ differs in 1: {scheduled[:8]}), 2 left out lacking a key or an objective, or outside "
        "the space\n"
    )


def test_a_warm_start_without_a_comparable_run_is_one_line_and_adds_nothing():
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("earlier")
    own = finished_run(
        client, experiment, {**LIKE, "model._target_": "models.Own", "optim.lr": 1e-4}, {"eval/accuracy": 1}
    )
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize")
    space = Space.parse(["optim.lr=interval(1e-5, 1e-1)"])
    with pytest.raises(ConfigError) as error:
        warm_start(study, storage, space, "earlier", ("eval/accuracy",), ("maximize",), CONFIG)
    assert str(error.value) == (
        "sweep.warm_start=earlier: no earlier result to start from; 1 runs left out as not comparable "
        f"(model._target_ differs in 1: {own[:8]}); name an experiment or study of runs like this sweep's, or drop "
        "sweep.warm_start"
    )
    assert study.trials == [] and ADDED not in study.user_attrs


def test_a_studys_complete_trials_are_added_when_it_optimizes_the_same(workdir):
    storage = optuna.storages.InMemoryStorage()
    earlier = optuna.create_study(storage=storage, study_name="earlier", direction="maximize")
    earlier.enqueue_trial({"optim.lr": 0.03, "optim": "Adam"})
    earlier.optimize(
        lambda t: t.suggest_float("optim.lr", 1e-3, 1e-1) + len(t.suggest_categorical("optim", ["SGD", "Adam"])),
        n_trials=1,
    )
    study = optuna.create_study(storage=storage, study_name="new", direction="maximize")
    assert warm_start(study, storage, SPACE, "earlier", ("eval/accuracy",), ("maximize",), CONFIG) == 1
    assert study.trials[0].user_attrs[SOURCE] == "study earlier trial 0"
    with pytest.raises(
        ConfigError,
        match="sweep.warm_start=earlier: that study optimizes its objective \\(maximize\\), "
        "this sweep eval/mse \\(minimize\\)",
    ):
        warm_start(study, storage, SPACE, "earlier", ("eval/mse",), ("minimize",), CONFIG)
    with pytest.raises(ConfigError, match="sweep.warm_start=nothing names no study in the sweep's storage"):
        warm_start(study, storage, SPACE, "nothing", ("eval/accuracy",), ("maximize",), CONFIG)


def test_a_sweep_of_several_seeds_starts_from_trials_judged_over_as_many():
    storage = optuna.storages.InMemoryStorage()
    earlier = optuna.create_study(storage=storage, study_name="earlier", direction="maximize")
    for lr, seeds in ((0.01, 3), (0.02, 3), (0.03, 1), (0.04, 2)):
        earlier.add_trial(
            optuna.trial.create_trial(
                params={"optim.lr": lr, "optim": "SGD"},
                distributions={key: dimension.distribution for key, dimension in SPACE.dimensions.items()},
                value=lr,
                user_attrs={"seeds": seeds} if seeds > 1 else {},
            )
        )
    study = optuna.create_study(storage=storage, study_name="new", direction="maximize")
    assert warm_start(study, storage, SPACE, "earlier", ("eval/accuracy",), ("maximize",), CONFIG, seeds=3) == 2
    assert [t.params["optim.lr"] for t in study.trials] == [0.01, 0.02]
    one = optuna.create_study(storage=storage, study_name="one", direction="maximize")
    assert warm_start(one, storage, SPACE, "earlier", ("eval/accuracy",), ("maximize",), CONFIG) == 1  # 0.03 only
    with pytest.raises(ConfigError) as error:
        warm_start(study, storage, SPACE, "Digits", ("eval/accuracy",), ("maximize",), CONFIG, seeds=3)
    assert str(error.value) == (
        "sweep.warm_start=Digits: a sweep of 3 seeds per trial starts from the trials of an earlier sweep of 3 seeds "
        "(its study's name, in the sweep's storage); an experiment's runs are one seed each"
    )
