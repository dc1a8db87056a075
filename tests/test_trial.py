"""antelope.sweeps.trial's Trial as its run sees it, without a run: a metrics sink reporting the objective, which
ends the run when the pruner says so or another worker took the trial over, and the owner check before each
checkpoint."""

from types import SimpleNamespace

import optuna
import pytest

from antelope import processes
from antelope.errors import Pruned, Stop, TakenOver
from antelope.sweeps import studies
from antelope.sweeps.trial import Trial

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
    sink.check_owner(40)  # still this worker's: nothing raised
    assert (sink.parent_run_id, sink.tags) == ("parent", {"antelope.trial": "0"})


def test_a_trial_the_pruner_stops_ends_its_run_as_pruned():
    sink, _ = trial(optuna.pruners.ThresholdPruner(lower=0.5))
    sink({"eval/accuracy": 0.7}, 20, True)
    sink({"train/loss": 0.1}, 30, False)  # a write without the objective: nothing to judge
    with pytest.raises(Pruned, match="^trial 0 pruned at step 40: eval/accuracy 0.2$") as pruned:
        sink({"eval/accuracy": 0.2}, 40, True)
    assert isinstance(pruned.value, Stop) and pruned.value.step == 40  # a Stop: the run ends, at that step


def test_a_trial_another_worker_took_over_is_left_to_it():
    sink, storage = trial(optuna.pruners.NopPruner())
    sink({"train/loss": 0.3}, 100, False)  # judged at evaluations and checkpoints only
    storage.set_trial_user_attr(sink.id, studies.PROCESS, "elsewhere:42")
    with pytest.raises(TakenOver, match="^trial 0 was taken over by elsewhere:42.*stops it at step 200"):
        sink({"eval/accuracy": 0.7}, 200, True)
    with pytest.raises(TakenOver, match="stops it at step 250"):
        sink.check_owner(250)
    assert sink.study.trials[0].intermediate_values == {}  # not reported: the run is no longer this worker's


def test_a_trial_asked_after_the_study_filled_up_is_surplus_and_earlier_surplus_ones_do_not_count(monkeypatch):
    """Two workers that ask for the last trial at once: the later one's is surplus (FAIL, unrun). A resumed sweep
    of more trials counts only the trials that were run, so it runs as many as it says."""
    from antelope.sweeps import trial as trial_module

    trained = []
    monkeypatch.setattr(trial_module, "_train", lambda trial, plan, why: trained.append(trial.number))
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    study.tell(study.ask(), 0.5)  # trial 0: the study's one trial
    plan = SimpleNamespace(**vars(PLAN), trials=1, warm_trials=0, study="s", heartbeat=60)
    trial_module.run_trial(study, storage, plan, {})  # trial 1: asked as the study was full
    assert study.trials[1].state.name == "FAIL" and study.trials[1].user_attrs == {studies.SURPLUS: True}
    assert trained == [] and len(studies.counted(study.trials)) == 1
    plan.trials = 3  # resumed as a sweep of 3 trials: trial 2 is its second, though its number is 2
    trial_module.run_trial(study, storage, plan, {})
    assert trained == [2] and not study.trials[2].user_attrs.get(studies.SURPLUS)
