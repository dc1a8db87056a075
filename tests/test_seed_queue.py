"""antelope.sweeps.seed_queue: a trial's seeds queued for any worker, in memory (a real Optuna storage): a seed
claimed once, its sink nesting its run under its trial's, the mean reported to the trial by whichever seed
completes a step, the pruner judging the mean and the other seeds stopping, an idle worker skipping the seeds of a
trial that ended, and a seed's failure told as its trial's. Whole sweeps of side-by-side seeds are in
tests/test_seeds.py and tests/test_worker_deaths.py."""

from types import SimpleNamespace

import pytest

from antelope import ConfigError, processes
from antelope.errors import Pruned, TakenOver
from antelope.sweeps import studies
from antelope.sweeps.seed_queue import INDEX, PRUNED_AT, TRIAL, SeedSink, error_of, run_waiting, seed_study


class Plan(SimpleNamespace):
    """What a seed's sink reads of a sweep's plan."""

    def __init__(self, seeds=3):
        super().__init__(study="s", seeds=seeds, multi=False, objective="eval/accuracy", directions=("maximize",))


def sweep_of(seeds, pruner=None):
    """A sweep's study with one running trial (number 0) and its seeds queued in its seeds study, in memory:
    (storage, study, seeds study, [each seed's storage id])."""
    import optuna

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="s", direction="maximize", pruner=pruner)
    study.ask()
    sown = seed_study(storage, Plan(seeds))
    for index in range(seeds):
        attributes = {TRIAL: 0, INDEX: index, "parent_run_id": "parent", "run_name": f"seed {index} of trial 0: lr=0.1"}
        sown.enqueue_trial({}, user_attrs=attributes)
    ids = [studies.trial_id(storage, sown, number) for number in range(seeds)]
    return storage, study, sown, ids


def sinks(storage, study, ids, plan):
    """Each seed claimed by this process and its sink, as a worker running it would build it."""
    made = []
    for seed_id in ids:
        assert studies.claim(storage, seed_id)
        siblings = [other for other in ids if other != seed_id]
        made.append(SeedSink(study, storage, plan, seed_id, studies.read(storage, seed_id), siblings, {"w": "1"}))
    return made


def test_a_seed_is_claimed_once_and_its_sink_nests_it_under_its_trials_run():
    storage, study, sown, ids = sweep_of(2)
    first, _ = sinks(storage, study, ids, Plan(2))
    assert not studies.claim(storage, ids[0])  # taken: a second worker does not get it
    assert studies.owner(storage, ids[0]) == processes.this_process()
    assert first.parent_run_id == "parent" and first.run_name == "seed 0 of trial 0: lr=0.1"
    assert first.tags == {"w": "1", "antelope.sweep": "s", "antelope.seed_of_trial": "0", "antelope.seed_index": "0"}
    assert first.label == "trial 0 seed 0"
    studies.mark(storage, ids[0], studies.PROCESS, "elsewhere:1")  # another worker took it over
    with pytest.raises(TakenOver, match=r"^trial 0 seed 0 was taken over by elsewhere:1 .* stops it at step 10 "):
        first({"eval/accuracy": 0.5}, 10, flush=True)


def test_the_trial_gets_the_mean_at_a_step_once_every_seed_has_a_value_there_in_any_order():
    storage, study, sown, ids = sweep_of(3)
    first, second, third = sinks(storage, study, ids, Plan(3))
    first({"eval/accuracy": 0.5, "train/loss": 1.0}, 10, flush=True)
    first({"eval/accuracy": 0.7}, 20, flush=True)
    third({"train/loss": 1.0}, 5, flush=False)  # no evaluation: nothing to report
    third({"eval/accuracy": 0.7}, 10, flush=True)
    assert study.trials[0].intermediate_values == {}  # seed 1 has no value at step 10 yet
    second({"eval/accuracy": 0.6}, 10, flush=True)  # the seed that completes step 10 reports the mean
    assert study.trials[0].intermediate_values == pytest.approx({10: 0.6})
    assert sown.trials[0].intermediate_values == {10: 0.5, 20: 0.7}  # each seed's own curve, on its seed trial


def test_the_pruner_judges_the_mean_and_the_other_seeds_stop_at_their_next_evaluation():
    import optuna

    storage, study, sown, ids = sweep_of(3, optuna.pruners.ThresholdPruner(lower=0.5))
    first, second, third = sinks(storage, study, ids, Plan(3))
    first({"eval/accuracy": 0.1}, 10, flush=True)
    third({"eval/accuracy": 0.4}, 10, flush=True)
    with pytest.raises(Pruned, match=r"^trial 0 pruned at step 10: eval/accuracy 0.4333, the mean of 3 seeds$"):
        second({"eval/accuracy": 0.8}, 10, flush=True)  # 0.8 alone would pass
    assert study.trials[0].user_attrs[PRUNED_AT] == 10
    with pytest.raises(Pruned, match=r"^trial 0 was pruned at step 10: its seed 0 stops at step 20$") as stopped:
        first({"eval/accuracy": 0.9}, 20, flush=True)
    assert stopped.value.step == 20


def test_an_idle_worker_runs_no_seed_of_a_trial_that_ended_and_closes_it_with_the_trial():
    from optuna.trial import TrialState

    storage, study, sown, ids = sweep_of(2)
    study.tell(0, state=TrialState.FAIL)  # its worker failed it (another seed failed) while these waited
    plan = Plan(2)
    plan.heartbeat, plan.retries = 10, 1
    assert run_waiting(study, storage, plan, {}) is False
    assert [t.state.name for t in sown.trials] == ["FAIL", "FAIL"]


def test_a_seed_that_failed_elsewhere_fails_its_trial_with_its_error_and_bad_input_stays_one_line():
    from types import SimpleNamespace as Seed

    failed = error_of(Seed(user_attrs={INDEX: 2, "failure": "ValueError: nan in the loss"}))
    assert isinstance(failed, RuntimeError) and str(failed) == "its seed 2 failed: ValueError: nan in the loss"
    bad = error_of(Seed(user_attrs={INDEX: 0, "failure": "ConfigError: unknown optim=Nope; choose one of SGD"}))
    assert isinstance(bad, ConfigError) and str(bad) == "unknown optim=Nope; choose one of SGD"


def test_a_seed_whose_worker_went_silent_goes_back_to_the_queue_then_fails_after_the_retries():
    import time

    from antelope.sweeps.seed_queue import take_back

    storage, study, sown, ids = sweep_of(2)
    plan = Plan(2)
    plan.heartbeat, plan.retries, plan.experiment = 1, 1, "Digits"
    for attempt in (1, 2):
        assert studies.claim(storage, ids[1])
        studies.mark(storage, ids[1], studies.PROCESS, "elsewhere:7")  # a worker on another machine
        studies.mark(storage, ids[1], studies.HEARTBEAT, time.time() - 10 * plan.heartbeat)  # silent since
        [(lost, why)] = [(t, why) for t, why in studies.lost_trials(sown.trials, 0.0) if t.number == 1]
        said = take_back(storage, sown, plan, lost, why)
        assert take_back(storage, sown, plan, lost, why) is None  # another worker got there first: said once
        if attempt == 1:
            assert said == (
                "trial 0 seed 1 lost its worker: its heartbeat stopped (worker elsewhere:7); the next free worker "
                "continues it from its checkpoint"
            )
            assert sown.trials[1].state.name == "WAITING"  # for the next free worker, into the same seed trial
    assert said.startswith("trial 0 seed 1 failed: it lost its worker 2 times, the last because its heartbeat")
    assert said.endswith("after sweep.retries=1 takeovers, and its trial with it")
    assert sown.trials[1].state.name == "FAIL" and sown.trials[1].user_attrs[studies.LOSSES] == 2
    assert str(error_of(sown.trials[1])) == (
        "its seed 1 failed: RuntimeError: it lost its worker 2 times, the last worker elsewhere:7: its heartbeat "
        "stopped (worker elsewhere:7)"
    )
