"""One sweep trial: values drawn (or a lost trial taken over), trained as a child run of the sweep's parent
run, its end told to the study.

The run reports its objective to the trial at every evaluation (the trial is one of the run's metric
sinks), which ends the run when the pruner says so (the run ends KILLED, the trial PRUNED); at each evaluation
and before each checkpoint it also ends the run when another worker has taken the trial over because this
worker's heartbeat had lapsed (the run, and its checkpoints, are left to it).
A trial stopped by a signal (Ctrl-C, scancel, Slurm's warning before preemption or the time limit) saves a
checkpoint and is released: the next free worker, or the same sweep run again, continues it at once.
"""

import math
import sys
import warnings

from .. import processes, tracking
from ..config import compose
from ..errors import ConfigError, Pruned, TakenOver
from ..run import run
from ..train import Interrupted
from . import seeds, studies


class Trial:
    """A sweep trial as its run sees it: where the run nests, a metrics sink, and a stop signal."""

    def __init__(self, study, storage, optuna_trial, plan, tags):
        self.study, self.storage, self.optuna = study, storage, optuna_trial
        self.number = optuna_trial.number
        self.objective = None if plan.multi else plan.objective  # reported to the pruner: one objective only
        self.id = studies.trial_id(storage, study, optuna_trial.number)
        self.parent_run_id, self.tags, self.run_name = plan.parent_run_id, tags, None
        self.label = f"trial {self.number}"  # its progress lines' prefix on the console

    def __call__(self, metrics, step, flush):
        """A metrics sink: at an evaluation (a flushed write) the trial must still be this worker's; the
        objective goes to the pruner, which may end the run here (Pruned)."""
        if flush:
            self.check_owner(step)
        if self.objective in metrics:
            value = metrics[self.objective]
            self.optuna.report(value, step)
            if self.optuna.should_prune():
                raise Pruned(f"trial {self.number} pruned at step {step}: {self.objective} {value:.4g}", step)

    def check_owner(self, step):
        """Raises TakenOver when another worker runs the trial now (this one was paused past its heartbeat's
        grace): this worker stops at `step` and leaves the run, and its checkpoints, to the other."""
        studies.check_owner(self.storage, self.id, self.label, f"stops it at step {step} and leaves its run")


def run_trial(study, storage, plan, tags):
    """One trial: the first in the study's queue (one whose worker was lost or stopped it, or a config
    sweep.enqueue queued), else values drawn anew; trained as a child run; its end told to Optuna. A trial
    that ran before continues its child run from its latest checkpoint."""
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        optuna_trial = study.ask()
    ran_before = studies.PROCESS in optuna_trial.user_attrs
    trial = Trial(
        study,
        storage,
        optuna_trial,
        plan,
        {**tags, "antelope.sweep": plan.study, "antelope.trial": str(optuna_trial.number)},
    )
    if not ran_before and _surplus(study, plan, trial.number):
        optuna_trial.set_user_attr(studies.SURPLUS, True)
        study.tell(optuna_trial, state=TrialState.FAIL)
        return
    studies.take(storage, trial.id)
    with studies.Heartbeat(storage, trial.id, plan.heartbeat):
        _train(trial, plan, optuna_trial.user_attrs.get(studies.QUEUED, "it ran before") if ran_before else None)


def _surplus(study, plan, number):
    """Whether new trial `number` is one too many: other workers asked for the study's last trials at the same
    time. Read again only when its number says it may be: earlier surplus trials do not count (a resumed sweep of
    more trials runs as many as it says), and a trial asked later is surplus whenever an earlier one is."""
    if number - plan.warm_trials < plan.trials:
        return False
    earlier = [t for t in study.get_trials(deepcopy=False) if t.number < number]
    return len(studies.counted(earlier)) - plan.warm_trials >= plan.trials


def take_back(study, storage, plan, lost, why):
    """A trial that lost its worker (`lost`, as read when it was found lost; `why`): back in the study's queue
    for the next free worker, or ended FAIL once it has lost its worker more than sweep.retries times (a config
    that runs out of memory every time): the reason on its run, and on the trial its LOST and LOSSES attributes.
    Returns a line for the console, or None when another worker got there first."""
    losses = studies.requeue(storage, study, lost, why, plan.retries)
    if not losses:
        return None
    run_id = _child_run_id(plan, lost.number)
    if losses <= plan.retries:
        return f"trial {lost.number} lost its worker: {why}; the next free worker continues it from its checkpoint"
    reason = (
        f"it lost its worker {losses} times, the last because {why}; after sweep.retries={plan.retries} "
        f"takeovers it is failed"
    )
    if run_id is not None:
        tracking.set_tags(run_id, {"antelope.trial_state": "FAIL", "antelope.failure": reason})
        if tracking.run_status(run_id) == "RUNNING":
            tracking.end_lost_run(run_id, reason)
    return f"trial {lost.number} failed: {reason}; the sweep goes on"


def _train(trial, plan, why):
    """Train the trial as a child run; `why` it is continued (it ran before), or None for a new trial."""
    from optuna.trial import TrialState

    optuna_trial = trial.optuna
    values = plan.space.suggest(optuna_trial)  # a continued trial's drawn values come back as they were
    overrides = plan.space.overrides(values)
    optuna_trial.set_user_attr("overrides", overrides)
    trial.run_name = f"trial {trial.number}: " + " ".join(f"{k}={_short(v)}" for k, v in values.items())
    resume_from = _lost_run(trial, plan, why) if why is not None else None
    result, state, error = None, TrialState.COMPLETE, None
    try:
        if plan.seeds > 1:  # one run per seed, under the trial's run (which resume_from is, when it ran before)
            result = seeds.run_seeds(trial, plan, overrides, values)
        else:
            cfg, explicit = compose(overrides)
            if resume_from is not None:
                cfg.resume, explicit = resume_from, {"resume"}
            result = run(cfg, overrides, plan.objects, explicit, trial)
    except TakenOver as taken:
        print(f"ml: {taken}", file=sys.stderr)
        return
    except Pruned as pruned:
        print(f"ml: {pruned}", file=sys.stderr)
        state, trial.run_name = TrialState.PRUNED, trial.run_name.replace(":", f" (pruned at step {pruned.step}):", 1)
    except Interrupted:  # a signal, with a checkpoint saved: the next free worker continues the trial from it
        if studies.owner(trial.storage, trial.id) == processes.this_process():
            studies.release(trial.storage, trial.id)
        raise
    except KeyboardInterrupt:
        _end(trial, plan, None, TrialState.FAIL, None)
        raise
    except Exception as failure:
        state, error = TrialState.FAIL, failure
    values = None
    if result is not None:
        values = [_value(result, objective) for objective in plan.objectives]
        missing = [objective for objective, value in zip(plan.objectives, values, strict=True) if value is None]
        if missing:
            state, values, error = (
                TrialState.FAIL,
                None,
                ConfigError(
                    f"sweep.objective={missing[0]} was never logged by trial {trial.number} (run {result.run_id}); "
                    f"its evaluation logged {', '.join(sorted(result.metrics)) or 'nothing'}: give "
                    f"sweep.objective=<a metric the run logs>"
                ),
            )
        elif not all(math.isfinite(value) for value in values):
            state = TrialState.FAIL  # Optuna would fail a nan objective anyway; the run's tag must agree
    if error is not None:  # why, on the trial as on its run (its traceback.txt)
        optuna_trial.set_user_attr("failure", f"{type(error).__name__}: {(str(error).splitlines() or [''])[0]}")
    _end(trial, plan, result.run_id if result else None, state, values)
    if error is not None:
        finished = trial.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        if isinstance(error, ConfigError) and (not finished or "sweep.objective" in str(error)):
            raise error  # bad input that every trial would hit: stop the sweep with its one-line message
        reason = (str(error).splitlines() or [""])[0]
        print(f"ml: trial {trial.number} failed ({type(error).__name__}: {reason}); the sweep goes on", file=sys.stderr)
        _release_memory(error)


def _release_memory(error):
    """What a failed trial held (its model, optimizer and batches, kept alive by the error's traceback frames)
    freed before the next trial, and the device's cached blocks returned: a trial that ran out of memory must not
    take the next one down with it."""
    import gc

    import torch

    error.__traceback__ = error.__context__ = error.__cause__ = None
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _value(result, objective):
    """The run's value of an objective: its final evaluation's, else the metric's last value (a train/ or
    cost/ metric); None if the run never logged it."""
    value = result.metrics.get(objective)
    if value is None and result.run_id is not None:
        value = tracking.last_metric(result.run_id, objective)
    return value


def _lost_run(trial, plan, why):
    """The child run of a continued trial, to resume: from its latest checkpoint, or from step 0 when it had
    none yet (ml.run starts such a run over as the same run). None if its run was never created."""
    run_id = _child_run_id(plan, trial.number)
    if run_id is not None and tracking.run_status(run_id) == "RUNNING":
        # Its worker is lost (judged by heartbeat or pid): end the run it left RUNNING, so that the resume
        # may take it up (the resume's own check knows only processes of this machine).
        tracking.end_lost_run(run_id, why)
    print(
        f"ml: trial {trial.number} continues {'from run ' + run_id if run_id else 'from the start'} ({why})",
        file=sys.stderr,
    )
    return run_id


def _end(trial, plan, run_id, state, values):
    """Tag the trial's run with how it ended, tell the study (`values`: one per objective), and record the
    best value so far (one objective)."""
    from optuna.trial import TrialState

    owner = studies.owner(trial.storage, trial.id)
    if owner != processes.this_process():  # its heartbeat lapsed and another worker took it over
        print(
            f"ml: trial {trial.number} was taken over by {owner} (its heartbeat had lapsed); this worker's "
            f"result of it is dropped",
            file=sys.stderr,
        )
        return
    run_id = run_id or _child_run_id(plan, trial.number)
    if run_id is not None:
        pruned = {"pruned": "true", "mlflow.runName": trial.run_name} if state == TrialState.PRUNED else {}
        tracking.set_tags(run_id, {"antelope.trial_state": state.name, **pruned})
        trial.optuna.set_user_attr("mlflow_run_id", run_id)
    trial.study.tell(trial.optuna, values if state == TrialState.COMPLETE else None, state=state)
    if plan.multi:  # no one best value: the sweep's Pareto front is drawn when it ends
        return
    try:
        best = trial.study.best_value
    except ValueError:  # no trial has completed yet
        return
    tracking.log_metric(plan.parent_run_id, "sweep/best_value", best, trial.number)


def _child_run_id(plan, number):
    """The run of a trial that did not return (it died, or ended in an exception), found by its tags."""
    return tracking.find_run(plan.experiment, {"antelope.sweep": plan.study, "antelope.trial": number})


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)
