"""antelope.trial's Trial as its run sees it, without a run: a metrics sink reporting the objective, and the
stop signal the trainer asks after each evaluation (pruned, or taken over by another worker)."""
from types import SimpleNamespace

import optuna

from antelope import processes, studies
from antelope.errors import Stop, TakenOver
from antelope.trial import Trial

PLAN = SimpleNamespace(objective="eval/accuracy", multi=False, parent_run_id="parent")


def trial(pruner):
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, direction="maximize", pruner=pruner)
    asked = study.ask()
    asked.set_user_attr(studies.PROCESS, processes.this_process())
    return Trial(study, storage, asked, PLAN, {"antelope.trial": "0"}), storage


def test_the_objective_is_reported_at_its_step_and_other_metrics_are_not():
    sink, _ = trial(optuna.pruners.NopPruner())
    sink({"train/loss": 0.3}, 10, False)
    sink({"eval/accuracy": 0.4}, 20, True)
    sink({"eval/accuracy": 0.6}, 40, True)
    assert sink.study.trials[0].intermediate_values == {20: 0.4, 40: 0.6}
    assert sink.stop(40) is None and (sink.parent_run_id, sink.tags) == ("parent", {"antelope.trial": "0"})


def test_a_trial_the_pruner_stops_ends_its_run_as_pruned():
    sink, _ = trial(optuna.pruners.ThresholdPruner(lower=0.5))
    sink({"eval/accuracy": 0.7}, 20, True)
    assert sink.stop(20) is None
    sink({"train/loss": 0.1}, 30, False)
    assert sink.stop(30) is None  # asked after a write without the objective: nothing to judge
    sink({"eval/accuracy": 0.2}, 40, True)
    stop = sink.stop(40)
    assert isinstance(stop, Stop) and str(stop) == "trial 0 pruned at step 40"


def test_a_trial_another_worker_took_over_is_left_to_it():
    sink, storage = trial(optuna.pruners.NopPruner())
    storage.set_trial_user_attr(sink.id, studies.PROCESS, "elsewhere:42")
    sink({"eval/accuracy": 0.7}, 200, True)
    stop = sink.stop(250)
    assert isinstance(stop, TakenOver)
    assert str(stop).startswith("trial 0 was taken over by elsewhere:42") and "stops it at step 250" in str(stop)
