"""A trial judged over several seeds (`sweep.seeds=N`): its config trained with seeds seed, seed+1, ...,
seed+N-1 (the same for every trial, so trials differ only by their drawn values), one run per seed, nested under
the trial's own run. The trial's objective is the mean over its seeds; their spread (std, min, max) is recorded on
the trial (Optuna user attributes) and on the trial's run, which also holds the mean curve of the objective at
each evaluation step. The pruner sees only means: the seeds run one after another, and during the last one each
evaluation reports the mean of every seed's value at that step. A trial taken over or continued keeps the seed
runs that finished and resumes the one that did not.

    ml -m 'optim.lr=interval(1e-4, 1e-1)' sweep.seeds=3
"""

import statistics
import sys
from dataclasses import dataclass, field

from .. import tracking
from ..config import compose
from ..errors import Pruned
from ..run import KEPT, kept_evaluation, run

SEED_OF, SEED_INDEX = "antelope.seed_of_trial", "antelope.seed_index"  # a seed run's tags (its trial's number)


@dataclass
class Seeded:
    """What the trial's end needs of its seeds: the trial's run (their parent) and the means of their metrics."""

    run_id: str
    metrics: dict
    best_seed_run_id: str = ""
    spread: dict = field(default_factory=dict)


class SeedSink:
    """The trial as one seed's run sees it (antelope.run.run's `trial`): where the run nests, a metrics sink that
    reports the objective's mean over the seeds to the pruner during the last seed, and the owner check."""

    def __init__(self, trial, parent_run_id, index, seeds, earlier):
        self.trial, self.index, self.seeds, self.earlier = trial, index, seeds, earlier
        self.number, self.parent_run_id = trial.number, parent_run_id
        self.run_name = f"seed {index} of {trial.run_name}"  # the seed first: the MLflow UI cuts long names short
        self.label = f"trial {trial.number} seed {index}"  # its progress lines' prefix on the console
        self.tags = {k: v for k, v in trial.tags.items() if k != "antelope.trial"}
        self.tags.update({SEED_OF: str(trial.number), SEED_INDEX: str(index)})
        self.curve = {}  # this seed's objective at each evaluation step

    def __call__(self, metrics, step, flush):
        if flush:
            self.trial.check_owner(step)
        objective = self.trial.objective
        if objective not in metrics:
            return
        self.curve[step] = metrics[objective]
        if self.index == self.seeds - 1 and all(step in curve for curve in self.earlier):
            mean = statistics.fmean([curve[step] for curve in self.earlier] + [metrics[objective]])
            self.trial.optuna.report(mean, step)
            if self.trial.optuna.should_prune():
                raise Pruned(
                    f"trial {self.number} pruned at step {step}: {objective} {mean:.4g}, the mean of {self.seeds} "
                    f"seeds",
                    step,
                )

    def check_owner(self, step):
        self.trial.check_owner(step)


def run_seeds(trial, plan, overrides, values, why):
    """Train the trial's config (`overrides`, its drawn `values`) with `plan.seeds` seeds; returns a Seeded. `why`:
    why the trial is continued (it ran before), or None. The trial's run ends with the trial: FINISHED (pruned
    too), FAILED, or KILLED by a signal (the trial is then continued, its run with it)."""
    from ..errors import TakenOver
    from ..train import Interrupted

    parent = _trial_run(trial, plan, values)
    try:
        return _train_seeds(trial, plan, overrides, why, parent)
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


def _train_seeds(trial, plan, overrides, why, parent):
    base = compose(overrides)[0].seed
    objective = plan.objective
    finals, curves, run_ids = [], [], []
    for index in range(plan.seeds):
        seed_overrides = [*overrides, f"seed={base + index}"]
        tags = {"antelope.sweep": plan.study, SEED_OF: trial.number, SEED_INDEX: index}
        existing = tracking.find_run(plan.experiment, tags)
        if existing is not None and tracking.run_status(existing) == "FINISHED":  # done before the trial moved
            finals.append(_recorded(existing, plan.objectives))
            curves.append(tracking.metric_history(existing, objective))
            run_ids.append(existing)
            continue
        cfg, explicit = compose(seed_overrides)
        if existing is not None:  # it stopped (a signal, its worker lost): continued from its checkpoint
            if tracking.run_status(existing) == "RUNNING":
                tracking.end_lost_run(existing, why or "its worker stopped")
            cfg.resume, explicit = existing, {"resume"}
        sink = SeedSink(trial, parent, index, plan.seeds, curves)
        result = run(cfg, seed_overrides, plan.objects, explicit, sink)
        final = dict(result.metrics)
        for name in plan.objectives:  # a cost/ or train/ objective: the run's last value, as a trial's is read
            if name not in final:
                value = tracking.last_metric(result.run_id, name)
                if value is not None:
                    final[name] = value
        finals.append(final)
        curves.append(tracking.metric_history(result.run_id, objective))
        run_ids.append(result.run_id)
    return _summarize(trial, plan, parent, finals, curves, run_ids)


def _trial_run(trial, plan, values):
    """The trial's own run, the parent of its seeds' runs: found again for a continued trial, else new."""
    found = tracking.find_run(plan.experiment, {"antelope.sweep": plan.study, "antelope.trial": trial.number})
    tags = {**trial.tags, "mlflow.parentRunId": plan.parent_run_id, "antelope.seeds": str(plan.seeds)}
    return tracking.open_parent_run(plan.experiment, trial.run_name, values, tags, run_id=found)


def _recorded(run_id, objectives):
    """What a finished seed run's Result held: its kept model's evaluation (its kept/<name> is eval/<name>; RL's
    fresh return as it is), and the objectives among its other metrics."""
    metrics = tracking.run_metrics(run_id)
    return {**{k: v for k, v in metrics.items() if k in objectives}, **kept_evaluation(metrics)}


def _summarize(trial, plan, parent, finals, curves, run_ids):
    """The means (and the objective's spread) on the trial's run and the trial; its run closed FINISHED."""
    shared = set.intersection(*(set(final) for final in finals))
    means = {name: statistics.fmean(final[name] for final in finals) for name in sorted(shared)}
    objective = plan.objective
    spread = {}
    if objective in shared:
        scores = [final[objective] for final in finals]
        spread = {"std": statistics.stdev(scores), "min": min(scores), "max": max(scores)}
        for name, value in spread.items():
            trial.optuna.set_user_attr(f"seeds_{name}", value)
    steps = sorted(set.intersection(*(set(curve) for curve in curves))) if curves else []
    for step in steps:  # the objective's mean curve, as the pruner saw it in the last seed
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
