"""A trial judged over several seeds (`sweep.seeds=N`): its config trained with seeds seed, seed+1, ...,
seed+N-1 (the same for every trial, so trials differ only by their drawn values), one run per seed, nested under
the trial's own run. The trial's objective is the mean over its seeds; their spread (std, min, max) is recorded on
the trial (Optuna user attributes) and on the trial's run, which also holds the mean curve of the objective at
each evaluation step.

The trial's seeds are queued for any worker of the sweep (antelope.sweeps.seed_queue); the trial's own worker runs
those nobody took, one after another, and while the others run elsewhere it runs other trials' waiting seeds or
waits; then it sums them up. A trial taken over or
continued keeps its seeds that finished.

    ml -m 'optim.lr=interval(1e-4, 1e-1)' sweep.seeds=3 sweep.workers=3
"""

import statistics
import sys
import time
from dataclasses import dataclass, field

from .. import tracking
from ..errors import Pruned, TakenOver
from ..run import KEPT
from ..train import Interrupted
from . import seed_queue, studies

POLL = 1.0  # seconds between reads of the seeds' states while a trial waits for its seeds run elsewhere


@dataclass
class Seeded:
    """What the trial's end needs of its seeds: the trial's run (their parent) and the means of their metrics."""

    run_id: str
    metrics: dict
    best_seed_run_id: str = ""
    spread: dict = field(default_factory=dict)


def run_seeds(trial, plan, overrides, values):
    """Train the trial's config (`overrides`, its drawn `values`) with `plan.seeds` seeds, queued for any worker;
    returns a Seeded. The trial's run ends with the trial: FINISHED (pruned too), FAILED, or KILLED by a signal
    (the trial is then continued, its run with it)."""
    parent = _trial_run(trial, plan, values)
    try:
        return _train_seeds(trial, plan, overrides, parent)
    except TakenOver:
        raise  # the worker that took the trial over continues its run
    except Pruned:
        tracking.end_run(parent, "FINISHED")
        raise
    except (Interrupted, KeyboardInterrupt):
        tracking.end_run(parent, "KILLED")
        raise
    except Exception:
        tracking.end_run(parent, "FAILED")
        raise


def _train_seeds(trial, plan, overrides, parent):
    """Queue the trial's seeds (those not queued before it was continued), run those nobody took, wait for the
    others; the trial's summary once all have finished. A seed that failed fails the trial, and one that found it
    pruned prunes it: its seeds nobody took end with it."""
    from optuna.trial import TrialState

    storage = trial.storage
    seeds = seed_queue.seed_study(storage, plan)
    seed_queue.queue(seeds, trial.number, plan, overrides, trial.run_name, parent)
    try:
        return _wait_for_seeds(trial, plan, parent, seeds)
    except Pruned:
        seed_queue.close_waiting(storage, seeds, trial.number, TrialState.PRUNED)
        raise
    except (TakenOver, Interrupted):
        raise  # its seeds wait for the worker that continues the trial
    except KeyboardInterrupt:  # Ctrl-C while it waited for its seeds (not training): continued as after a signal
        raise Interrupted("stopped by signal SIGINT while its seeds ran on other workers") from None
    except Exception:
        seed_queue.close_waiting(storage, seeds, trial.number, TrialState.FAIL)
        raise


def _wait_for_seeds(trial, plan, parent, seeds):
    """Run the trial's waiting seeds in this process, one at a time, and while others run elsewhere run other
    trials' waiting seeds or wait, until all of its own have finished: its Seeded; Pruned or the first failed
    seed's error as soon as one is found."""
    from optuna.trial import TrialState

    storage = trial.storage
    own_tags = {k: v for k, v in trial.tags.items() if k != "antelope.trial"}
    while True:
        studies.check_owner(storage, trial.id, f"trial {trial.number}", "leaves its seeds and its run")
        jobs = seed_queue.seeds_of(seeds, trial.number)
        if seed_queue.take_back_lost(storage, seeds, plan, jobs.values()):
            jobs = seed_queue.seeds_of(seeds, trial.number)
        pruned_at = studies.read(storage, trial.id).user_attrs.get(seed_queue.PRUNED_AT)
        if pruned_at is not None:
            raise Pruned(
                f"trial {trial.number} ends pruned at step {pruned_at} (its seed on another worker found the mean "
                f"of its seeds pruned)",
                pruned_at,
            )
        failed = [job for job in jobs.values() if job.state == TrialState.FAIL]
        if failed:
            raise seed_queue.error_of(failed[0])
        waiting = [
            studies.trial_id(storage, seeds, job.number)
            for _, job in sorted(jobs.items())
            if job.state == TrialState.WAITING
        ]
        taken = next((seed_id for seed_id in waiting if studies.claim(storage, seed_id)), None)
        if taken is not None:
            seed_queue.run_seed(trial.study, storage, seeds, taken, plan, own_tags, mine=True)
            continue
        if all(job.state == TrialState.COMPLETE for job in jobs.values()):
            return _summarize(trial, plan, parent, [jobs[index] for index in range(plan.seeds)])
        if seed_queue.run_waiting(trial.study, storage, plan, own_tags):
            continue  # another trial's waiting seed, rather than idle while its own run elsewhere
        time.sleep(POLL)  # its seeds run on other workers: one may yet lose its worker, or prune the trial


def _trial_run(trial, plan, values):
    """The trial's own run, the parent of its seeds' runs: found again for a continued trial, else new."""
    found = tracking.find_run(plan.experiment, {"antelope.sweep": plan.study, "antelope.trial": trial.number})
    tags = {**trial.tags, "mlflow.parentRunId": plan.parent_run_id, "antelope.seeds": str(plan.seeds)}
    return tracking.open_parent_run(plan.experiment, trial.run_name, values, tags, run_id=found)


def _summarize(trial, plan, parent, jobs):
    """The means (and the objective's spread) on the trial's run and the trial; its run closed FINISHED."""
    run_ids = [job.user_attrs[seed_queue.RUN] for job in jobs]
    finals = [seed_queue.record_of(run_id, plan.objectives) for run_id in run_ids]
    objective = plan.objective
    curves = [tracking.metric_history(run_id, objective) for run_id in run_ids]
    shared = set.intersection(*(set(final) for final in finals))
    means = {name: statistics.fmean(final[name] for final in finals) for name in sorted(shared)}
    spread = {}
    if objective in shared:
        scores = [final[objective] for final in finals]
        spread = {"std": statistics.stdev(scores), "min": min(scores), "max": max(scores)}
        for name, value in spread.items():
            trial.optuna.set_user_attr(f"seeds_{name}", value)
    steps = sorted(set.intersection(*(set(curve) for curve in curves))) if curves else []
    for step in steps:  # the objective's mean curve, as the pruner saw it
        tracking.log_metric(parent, objective, statistics.fmean(curve[step] for curve in curves), step)
    last = steps[-1] if steps else 0
    kept_name = KEPT + objective.removeprefix("eval/")  # the trial's value: the mean of its seeds' kept models
    recorded = {KEPT + k.removeprefix("eval/"): v for k, v in means.items() if k.startswith("eval/")}
    recorded |= {f"{kept_name}_{k}": v for k, v in spread.items()}
    for name, value in recorded.items():
        tracking.log_metric(parent, name, value, last)
    sign = -1.0 if plan.direction == "minimize" else 1.0
    best = max(range(len(finals)), key=lambda i: sign * finals[i].get(objective, float("-inf") * sign))
    trial.optuna.set_user_attr("best_seed_run_id", run_ids[best])
    trial.optuna.set_user_attr("seeds", plan.seeds)  # what a warm start from this study compares
    tracking.end_run(parent, "FINISHED")
    if spread:
        print(
            f"ml: trial {trial.number}: {objective} {means[objective]:.4g} over {len(finals)} seeds "
            f"(std {spread['std']:.3g}, {spread['min']:.4g}..{spread['max']:.4g})",
            file=sys.stderr,
        )
    return Seeded(parent, means, run_ids[best], spread)
