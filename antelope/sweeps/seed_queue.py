"""A trial's seeds (sweep.seeds: antelope.sweeps.seeds) queued for any worker of the sweep: each is a trial of the
sweep's seeds study (`<study>:seeds`, in the sweep's storage), taken with the same atomic state change as a queued
trial (antelope.sweeps.studies.claim), with a heartbeat of its own. An idle worker runs a waiting seed before it
starts a new trial, so a trial ends sooner and the sampler learns from it before drawing more. A seed whose
worker is lost or stopped goes back to the queue and the next worker resumes its run from its checkpoint, as a
trial would.

The pruner sees only means: each seed reports its objective at an evaluation step to its own seed trial, and the
seed that completes a step (every seed has a value there) reports their mean to the trial and asks the pruner;
when it prunes, the trial records the step and its other seeds stop at their next evaluation.
"""

import math
import statistics
import sys
import weakref

from .. import processes, tracking
from ..config import compose
from ..errors import ConfigError, Pruned, TakenOver
from ..results import SEED_OF_TRIAL
from ..run import kept_evaluation, run
from . import studies

SEED_INDEX = "antelope.seed_index"  # a seed run's tag: its index; SEED_OF_TRIAL (read by ml runs): its trial's number
TRIAL, INDEX = "trial", "seed_index"  # a seed trial's user attributes: its trial's number, its seed's index
RUN = "mlflow_run_id"  # a seed trial's user attribute once it has ended: its run
FAILURE = "failure"  # a failed seed trial's user attribute: its error, 'Type: message'
PRUNED_AT = "pruned_at"  # a trial's user attribute: the step at which one of its seeds found it pruned


def seed_study(storage, plan):
    """The sweep's seeds study: one trial per seed of each of its trials, created by the first worker that needs it."""
    known = _SEED_STUDIES.setdefault(storage, {})
    if plan.study not in known:
        import optuna

        name = studies.seeds_study_name(plan.study)
        try:
            known[plan.study] = optuna.create_study(storage=storage, study_name=name, directions=list(plan.directions))
        except optuna.exceptions.DuplicatedStudyError:  # another worker, or an earlier run of the sweep
            known[plan.study] = optuna.load_study(study_name=name, storage=storage)
    return known[plan.study]


_SEED_STUDIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # {storage: {sweep's study: its seeds study}}


class SeedSink:
    """One seed's run as antelope.run.run sees it (its `trial`): where the run nests, the owner check (its seed
    trial must still be this process's), and a metrics sink that reports the objective to the seed trial and, once
    every seed has a value at the step, their mean to the trial's pruner (which may end the run: Pruned)."""

    def __init__(self, study, storage, plan, seed_id, seed, siblings, tags):
        self.study, self.storage, self.plan, self.id = study, storage, plan, seed_id
        self.number, self.index = seed.user_attrs[TRIAL], seed.user_attrs[INDEX]
        self.siblings = siblings  # the storage's ids of the trial's other seed trials
        self.trial_id = studies.trial_id(storage, study, self.number)
        self.objective = None if plan.multi else plan.objective  # reported to the pruner: one objective only
        self.parent_run_id, self.run_name = seed.user_attrs["parent_run_id"], seed.user_attrs["run_name"]
        self.label = f"trial {self.number} seed {self.index}"  # its progress lines' prefix on the console
        self.tags = {**tags, **seed_run_tags(plan, self.number, self.index)}

    def __call__(self, metrics, step, flush):
        if flush:
            self.check_owner(step)
        if self.objective not in metrics:
            return
        value = metrics[self.objective]
        studies.report(self.storage, self.id, step, value)
        trial = studies.read(self.storage, self.trial_id)
        if PRUNED_AT in trial.user_attrs or trial.state.is_finished():  # found pruned by another seed, or ended
            how = f"pruned at step {trial.user_attrs[PRUNED_AT]}" if PRUNED_AT in trial.user_attrs else "ended"
            raise Pruned(f"trial {self.number} was {how}: its seed {self.index} stops at step {step}", step)
        others = [studies.read(self.storage, sibling).intermediate_values.get(step) for sibling in self.siblings]
        if any(other is None for other in others):
            return
        mean = statistics.fmean([*others, value])
        studies.report(self.storage, self.trial_id, step, mean)
        if self.study.pruner.prune(self.study, studies.read(self.storage, self.trial_id)):
            studies.mark(self.storage, self.trial_id, PRUNED_AT, step)
            raise Pruned(
                f"trial {self.number} pruned at step {step}: {self.objective} {mean:.4g}, the mean of "
                f"{self.plan.seeds} seeds",
                step,
            )

    def check_owner(self, step):
        """Raises TakenOver when another worker runs this seed now (this one was paused past its heartbeat's grace)."""
        studies.check_owner(self.storage, self.id, self.label, f"stops it at step {step} and leaves its run")


def run_waiting(study, storage, plan, tags):
    """An idle worker's turn (sweep.seeds > 1): seeds lost by their workers back in the queue, then one waiting
    seed of any trial trained in this process (the earliest trial's first); whether one was."""
    from optuna.trial import TrialState

    seeds = seed_study(storage, plan)
    jobs = seeds.get_trials(deepcopy=False)
    if take_back_lost(storage, seeds, plan, jobs):
        jobs = seeds.get_trials(deepcopy=False)
    waiting = sorted(
        (job for job in jobs if job.state == TrialState.WAITING),
        key=lambda job: (job.user_attrs[TRIAL], job.user_attrs[INDEX]),
    )
    for job in waiting:
        seed_id = studies.trial_id(storage, seeds, job.number)
        if not studies.claim(storage, seed_id):
            continue
        trial = studies.read(storage, studies.trial_id(storage, study, job.user_attrs[TRIAL]))
        if trial.state.is_finished():  # its trial ended (failed, pruned) since the read: nothing to run
            studies.finish(storage, seed_id, TrialState.FAIL if trial.state == TrialState.FAIL else TrialState.PRUNED)
            continue
        run_seed(study, storage, seeds, seed_id, plan, tags, mine=False)
        return True
    return False


def run_seed(study, storage, seeds, seed_id, plan, tags, mine):
    """Train the seed trial `seed_id` this process has claimed, as a run under its trial's run, and end it:
    COMPLETE (its run in RUN), PRUNED, FAIL (its error in FAILURE), or back in the queue when a signal stopped
    it with a checkpoint. `mine`: this process runs the seed's trial too, and raises what ended the seed as
    the trial's own seeds would (a seed run for another worker's trial says it in one line and returns)."""
    from optuna.trial import TrialState

    seed = studies.read(storage, seed_id)
    number, index = seed.user_attrs[TRIAL], seed.user_attrs[INDEX]
    siblings = [
        studies.trial_id(storage, seeds, job.number) for i, job in seeds_of(seeds, number).items() if i != index
    ]
    sink = SeedSink(study, storage, plan, seed_id, seed, siblings, tags)
    with studies.Heartbeat(storage, seed_id, plan.heartbeat):
        try:
            run_id, final = _train_seed(sink, plan, seed)
        except TakenOver as taken:  # the seed's new worker ends it; its trial's worker waits for it as for any
            print(f"ml: {taken}", file=sys.stderr)
            return
        except Pruned as pruned:
            studies.finish(storage, seed_id, TrialState.PRUNED)
            if mine:
                raise
            print(f"ml: {pruned}", file=sys.stderr)
            return
        except KeyboardInterrupt:  # a signal (with a checkpoint, when training): the next worker continues the seed
            if studies.owner(storage, seed_id) == processes.this_process():
                studies.release(storage, seed_id)
            raise
        except Exception as error:
            failure = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}"
            studies.mark(storage, seed_id, FAILURE, failure)
            studies.finish(storage, seed_id, TrialState.FAIL)
            if mine:
                raise
            print(f"ml: trial {number} seed {index} failed ({failure}); its trial fails with it", file=sys.stderr)
            return
    studies.mark(storage, seed_id, RUN, run_id)
    values = [final.get(objective) for objective in plan.objectives]
    finite = all(value is not None and math.isfinite(value) for value in values)
    studies.finish(storage, seed_id, TrialState.COMPLETE, values if finite else None)


def seed_run_tags(plan, number, index):
    """The tags that name the run of seed `index` of trial `number` of the sweep (written on it, searched by)."""
    return {"antelope.sweep": plan.study, SEED_OF_TRIAL: str(number), SEED_INDEX: str(index)}


def _train_seed(sink, plan, seed):
    """(run id, final metrics) of one seed: its run trained, resumed from its checkpoint when it ran before, or
    as it was recorded when it finished before its seed trial was told (its worker lost in between)."""
    existing = tracking.find_run(plan.experiment, seed_run_tags(plan, sink.number, sink.index))
    if existing is not None and tracking.run_status(existing) == "FINISHED":
        return existing, record_of(existing, plan.objectives)
    overrides = seed.user_attrs["overrides"]
    cfg, explicit = compose(overrides)
    if existing is not None:  # it stopped (a signal, its worker lost): continued from its checkpoint
        why = seed.user_attrs.get(studies.QUEUED, "it ran before")
        if tracking.run_status(existing) == "RUNNING":
            tracking.end_lost_run(existing, why)
        print(f"ml: {sink.label} continues from run {existing} ({why})", file=sys.stderr)
        cfg.resume, explicit = existing, {"resume"}
    result = run(cfg, overrides, plan.objects, explicit, sink)
    final = dict(result.metrics)
    for name in plan.objectives:  # a cost/ or train/ objective: the run's last value, as a trial's is read
        if name not in final:
            value = tracking.last_metric(result.run_id, name)
            if value is not None:
                final[name] = value
    return result.run_id, final


def take_back_lost(storage, seeds, plan, jobs):
    """The seed trials among `jobs` whose worker is lost, back in the queue (or failed: take_back), each said in one
    line; whether any was (the caller reads them again)."""
    taken = False
    for job, why in studies.lost_trials(jobs, plan.heartbeat):
        said = take_back(storage, seeds, plan, job, why)
        if said is not None:
            print(f"ml: {said}", file=sys.stderr)
            taken = True
    return taken


def take_back(storage, seeds, plan, lost, why):
    """A seed trial that lost its worker (`lost`, as read when it was found lost; `why`): back in the queue for
    the next free worker, or ended FAIL once it has lost its worker more than sweep.retries times (its trial then
    fails with it). Returns a line for the console, or None when another worker got there first."""
    losses = studies.requeue(storage, seeds, lost, why, plan.retries)
    if not losses:
        return None
    label = f"trial {lost.user_attrs[TRIAL]} seed {lost.user_attrs[INDEX]}"
    if losses <= plan.retries:
        return f"{label} lost its worker: {why}; the next free worker continues it from its checkpoint"
    reason = f"it lost its worker {losses} times, the last because {why}; after sweep.retries={plan.retries} takeovers"
    run_id = tracking.find_run(plan.experiment, seed_run_tags(plan, lost.user_attrs[TRIAL], lost.user_attrs[INDEX]))
    if run_id is not None and tracking.run_status(run_id) == "RUNNING":
        tracking.end_lost_run(run_id, reason)
    return f"{label} failed: {reason}, and its trial with it"


def running_in(seeds, recorded):
    """The RUNNING seed trials whose worker is the process `recorded` ('host:pid')."""
    from optuna.trial import TrialState

    return [
        job
        for job in seeds.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if job.user_attrs.get(studies.PROCESS) == recorded
    ]


def queue(seeds, number, plan, overrides, run_name, parent):
    """The seed trials of trial `number` that are not in the queue yet (all, unless the trial was continued)."""
    base = compose(overrides)[0].seed
    queued = seeds_of(seeds, number)
    for index in range(plan.seeds):
        if index not in queued:
            attributes = {
                TRIAL: number,
                INDEX: index,
                "overrides": [*overrides, f"seed={base + index}"],
                "run_name": f"seed {index} of {run_name}",  # the seed first: the MLflow UI cuts long names short
                "parent_run_id": parent,
            }
            seeds.enqueue_trial({}, user_attrs=attributes)


def seeds_of(seeds, number):
    """{seed index: seed trial (a FrozenTrial)} of trial `number`, read now."""
    return {
        job.user_attrs[INDEX]: job for job in seeds.get_trials(deepcopy=False) if job.user_attrs.get(TRIAL) == number
    }


def close_waiting(storage, seeds, number, state):
    """Trial `number`'s seeds nobody took yet end `state` with it (claimed first, so that no worker starts one)."""
    from optuna.trial import TrialState

    for job in seeds_of(seeds, number).values():
        seed_id = studies.trial_id(storage, seeds, job.number)
        if job.state == TrialState.WAITING and studies.claim(storage, seed_id):
            studies.finish(storage, seed_id, state)


def error_of(job):
    """The error a failed seed trial recorded, as the trial's own: bad input (ConfigError) stays one."""
    recorded = job.user_attrs.get(FAILURE)
    if recorded is None:  # it kept losing its worker (take_back)
        losses, last = job.user_attrs.get(studies.LOSSES, 0), job.user_attrs.get(studies.LOST, "?")
        recorded = f"RuntimeError: it lost its worker {losses} times, the last {last}"
    kind, _, message = recorded.partition(": ")
    if kind == "ConfigError":
        return ConfigError(message)
    return RuntimeError(f"its seed {job.user_attrs[INDEX]} failed: {recorded}")


def record_of(run_id, objectives):
    """What a finished seed run's Result held: its kept model's evaluation (its kept/<name> is eval/<name>; RL's
    fresh return as it is), and the objectives among its other metrics."""
    metrics = tracking.run_metrics(run_id)
    return {**{k: v for k, v in metrics.items() if k in objectives}, **kept_evaluation(metrics)}
