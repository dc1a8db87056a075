"""Optuna's storages, and only here: a sweep's study, its storage, sampler and pruner, heartbeats, and trials that
lost their worker put back in the queue.

The storage is a journal file by default (safe for several local processes; never SQLite for parallel
workers) or a database (`sweep.storage=postgresql://...`, shared by machines). While a worker runs a trial
it writes a heartbeat into the trial every `sweep.heartbeat` seconds (a system attribute holding the time,
the same on the journal file and on a database). A RUNNING trial whose heartbeat stopped for GRACE
heartbeats (its worker killed, its machine lost), or whose recorded process on this machine is gone, is put
back in the study's queue (WAITING), and the next `study.ask()` of any worker takes it and continues it as
the same trial: Optuna pops a queued trial with an atomic state change of its storage, so two workers never
both take it. Optuna's own heartbeat would fail the trial and retry it as a new one, and its journal storage
has none.

Optuna's user API has no call for a trial's state or attributes by id outside `study.optimize`, so this module
calls its storages' methods (`STORAGE_METHODS`): the BaseStorage interface Optuna keeps for storage
implementers. They are called here only; pyproject.toml pins Optuna to the major version they were tested
with, and tests/test_studies.py fails when their signatures or the atomic pop they rely on change.
"""

import os
import threading
import time
import weakref

from .. import processes, tracking
from ..errors import ConfigError, TakenOver
from ..imports import did_you_mean

# The storage methods called (see the module's docstring) and their parameters, checked by the contract test
STORAGE_METHODS = {
    "get_study_id_from_name": ("study_name",),
    "get_trial_id_from_study_id_trial_number": ("study_id", "trial_number"),
    "get_trial": ("trial_id",),
    "set_trial_user_attr": ("trial_id", "key", "value"),
    "set_trial_system_attr": ("trial_id", "key", "value"),
    "set_trial_state_values": ("trial_id", "state", "values"),
    "set_trial_intermediate_value": ("trial_id", "step", "intermediate_value"),
}
JOURNAL = "optuna.journal"  # the default storage, in the working directory (like MLflow's mlflow.db)
GRACE = 3  # heartbeats a trial may miss before it counts as lost (loaded machines lag)
HEARTBEAT = "antelope.heartbeat"  # a running trial's system attribute: the time of its last heartbeat
PROCESS = "process"  # a trial's user attribute: the worker process running it, 'host:pid' ('' while it waits)
LOST = "lost"  # a trial's user attribute: the worker it lost last, and why ('worker host:pid: why')
QUEUED = "queued"  # a trial's user attribute: why it waits in the queue again (lost, or stopped with a checkpoint)
LOSSES = "losses"  # a trial's user attribute: how many times it lost its worker (killed, out of memory, gone)
SURPLUS = "surplus"  # a trial's user attribute: asked as another worker took the last trial; ended FAIL, unrun
SAMPLERS = {
    "tpe": "TPESampler",
    "random": "RandomSampler",
    "grid": "GridSampler",
    "cmaes": "CmaEsSampler",
    "gp": "GPSampler",
    "qmc": "QMCSampler",
}
PRUNERS = ("median", "hyperband", "halving", "none")
_ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "sampler": {"cmaes": ("cma",)},
    "pruner": {"halving": ("successivehalving", "successive_halving", "sha"), "none": ("nop",)},
}


def choose(kind, given):
    """The canonical sampler or pruner name for what the user wrote ('TPESampler', 'tpe', 'nop', ...)."""
    names = list(SAMPLERS) if kind == "sampler" else list(PRUNERS)
    name = given.lower().replace("-", "").removesuffix(kind)
    for canonical, others in _ALIASES[kind].items():
        if name in others:
            name = canonical
    if name not in names:
        raise ConfigError(
            f"unknown sweep.{kind}={given!r}{did_you_mean(name, names)}; choose one of {', '.join(names)}"
        )
    return name


def open_storage(url, workers=1):
    """Optuna storage: a database URL (RDBStorage), else a journal file, safe for many processes. Optuna's INFO
    lines ("A new study created", each trial's result) are left out: the sweep prints its own."""
    import optuna

    if not processes.verbose():
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    if "://" not in url:
        from optuna.storages.journal import JournalFileBackend

        path = os.path.abspath(os.path.expanduser(url))
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        except OSError as error:
            raise ConfigError(f"cannot write the sweep journal sweep.storage={url}: {error.strerror}") from None
        return optuna.storages.JournalStorage(JournalFileBackend(path))
    if url.startswith("sqlite") and workers > 1:
        raise ConfigError(
            f"sweep.storage={url} is SQLite, which several processes cannot share safely; "
            f"leave sweep.storage unset for a journal file, or use a database server"
        )
    engine = {}
    if url.startswith(("postgresql://", "postgres://")):
        url = f"postgresql+{_postgres_driver()}://{url.split('://', 1)[1]}"
    if url.startswith("postgresql"):
        engine = {"connect_args": {"connect_timeout": 10}}
    try:
        return _database(url, engine)
    except Exception as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise ConfigError(f"cannot reach sweep.storage={tracking.redact(url)}: {reason}") from None


def _database(url, engine):
    """RDBStorage, tried again when several machines starting at once on a new database race to create
    Optuna's tables (the losers see a constraint error); a connection error is final."""
    import optuna
    from sqlalchemy.exc import OperationalError
    from tenacity import retry, retry_if_not_exception_type, stop_after_attempt, wait_random

    @retry(
        retry=retry_if_not_exception_type(OperationalError),
        stop=stop_after_attempt(5),
        wait=wait_random(0.5, 1.5),
        reraise=True,
    )
    def connect():
        return optuna.storages.RDBStorage(url, engine_kwargs=engine)

    return connect()


def _postgres_driver():
    """psycopg2 when installed (SQLAlchemy's default for postgresql://), else psycopg 3."""
    try:
        import psycopg2  # noqa: F401

        return "psycopg2"
    except ImportError:
        return "psycopg"


def sampler(name, seed, grid=None):
    """An Optuna sampler by canonical name, seeded; `grid` ({key: [values]}) for the grid sampler."""
    import warnings

    import optuna

    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its `study.stop()` when the grid is used up (which only works
        inside `study.optimize`): a grid sweep already has at most as many trials as the grid has points."""

        def after_trial(self, study, trial, state, values):
            pass

    if name == "grid":
        return Grid(grid, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return getattr(optuna.samplers, SAMPLERS[name])(seed=seed)


def pruner(name, train_steps, evaluate_every):
    """An Optuna pruner by canonical name, for trials of `train_steps` (0: unknown, e.g. epochs=)."""
    import optuna

    first = evaluate_every or train_steps  # the first evaluation's step; 0: unknown (epochs=)
    if name == "median":  # no pruning before 5 finished trials nor in the first quarter of training
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=train_steps // 4)
    if name == "hyperband":  # its min_resource takes no "auto": with the steps unknown, Optuna's default of 1
        return optuna.pruners.HyperbandPruner(min_resource=first or 1, max_resource=train_steps or "auto")
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first or "auto")
    return optuna.pruners.NopPruner()


def create_or_load(storage, name, directions, sampler, pruner):
    """(study, created): the study `name` of one objective per direction ('maximize', 'minimize'), created,
    or loaded to resume (then its sampler is the one given)."""
    import optuna

    directions = [directions] if isinstance(directions, str) else list(directions)
    try:
        return optuna.create_study(
            storage=storage, study_name=name, directions=directions, sampler=sampler, pruner=pruner
        ), True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    found = [d.name.lower() for d in study.directions]
    if found != directions:
        raise ConfigError(
            f"study {name!r} exists and is to {','.join(found)}; sweep.direction={','.join(directions)} "
            f"needs another sweep.study"
        )
    return study, False


def seeds_study_name(study):
    """The study of a sweep's seeds (sweep.seeds: antelope.sweeps.seeds), beside the sweep's own in its storage."""
    return f"{study}:seeds"


def load(storage, name, sampler, pruner):
    import optuna

    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def trial_id(storage, study, number):
    """The storage's id of trial `number` of `study` (Optuna's handles carry it privately); the study's id
    asked of the storage once per process (a database query each time otherwise)."""
    known = _STUDY_IDS.setdefault(storage, {})
    if study.study_name not in known:
        known[study.study_name] = storage.get_study_id_from_name(study.study_name)
    return storage.get_trial_id_from_study_id_trial_number(known[study.study_name], number)


_STUDY_IDS: weakref.WeakKeyDictionary = (
    weakref.WeakKeyDictionary()
)  # {storage: {study name: its id}}, forgotten with the storage


class Heartbeat:
    """While open, writes the time into the trial every `interval` seconds, from a thread. The trial's
    start and its claim count as beats too, so a trial shorter than one interval writes none."""

    def __init__(self, storage, trial_id, interval):
        self.storage, self.trial_id, self.interval = storage, trial_id, interval
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="sweep-heartbeat", daemon=True)

    def _beat(self):
        from optuna.exceptions import UpdateFinishedTrialError

        while not self._stopped.wait(self.interval):
            try:
                self.storage.set_trial_system_attr(self.trial_id, HEARTBEAT, time.time())
            except UpdateFinishedTrialError:  # a last beat racing the trial's end
                return

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *error):
        self._stopped.set()
        self._thread.join()
        return False


def _last_sign_of_life(trial):
    """When a running trial last showed it is alive: a heartbeat, or its start (a trial taken from the queue
    starts anew)."""
    return max(trial.system_attrs.get(HEARTBEAT, 0), trial.datetime_start.timestamp())


def counted(trials):
    """The trials that count towards sweep.trials: all but surplus ones (Optuna has no call to delete a trial a
    worker asked for after the study filled up, so it stays, FAIL and marked SURPLUS)."""
    return [t for t in trials if not t.user_attrs.get(SURPLUS)]


def lost_trials(trials, interval):
    """[(trial, why)] of the RUNNING `trials` (FrozenTrials) whose worker is lost: its recorded process on this
    machine is gone (known at once), or no sign of life for GRACE heartbeats of `interval` seconds (any machine)."""
    from optuna.trial import TrialState

    now, lost = time.time(), []
    for trial in (t for t in trials if t.state == TrialState.RUNNING):
        recorded = trial.user_attrs.get(PROCESS, "")
        if processes.gone(recorded):
            lost.append((trial, f"its process {recorded.rpartition(':')[2]} is gone"))
        elif now - _last_sign_of_life(trial) > GRACE * interval:
            lost.append((trial, f"its heartbeat stopped (worker {recorded or '?'})"))
    return lost


def requeue(storage, study, trial, why, retries):
    """Put a lost RUNNING `trial` (a FrozenTrial, as read when it was judged lost) back in the study's queue
    (WAITING), where the next `study.ask()` of any worker takes it: Optuna's own atomic state change, so exactly
    one worker continues it; or, when it has lost its worker more than `retries` times, end it FAIL. Its worker
    is counted in LOSSES, and cleared, so that a worker thought lost which comes back sees the trial is no longer
    its own. A trial that changed since it was read (requeued by another worker, who took it meanwhile) is left
    alone. Returns how many times the trial has lost its worker, or 0 when it was left alone."""
    from optuna.trial import TrialState

    identity = trial_id(storage, study, trial.number)
    now = storage.get_trial(identity)
    if now.state != TrialState.RUNNING or now.user_attrs.get(PROCESS, "") != trial.user_attrs.get(PROCESS, ""):
        return 0
    losses = now.user_attrs.get(LOSSES, 0) + 1
    storage.set_trial_user_attr(identity, LOSSES, losses)
    storage.set_trial_user_attr(identity, LOST, f"worker {trial.user_attrs.get(PROCESS, '?')}: {why}")
    storage.set_trial_user_attr(identity, QUEUED, f"it lost its worker: {why}")
    storage.set_trial_user_attr(identity, PROCESS, "")
    storage.set_trial_state_values(identity, TrialState.FAIL if losses > retries else TrialState.WAITING)
    return losses


def release(storage, trial_id):
    """This worker stopped its running trial with a checkpoint (a signal, a preempted or timed-out Slurm job):
    back in the study's queue at once, for the next free worker (or the same sweep run again) to continue."""
    from optuna.trial import TrialState

    storage.set_trial_user_attr(trial_id, QUEUED, f"its worker {processes.this_process()} stopped it with a checkpoint")
    storage.set_trial_user_attr(trial_id, PROCESS, "")
    storage.set_trial_state_values(trial_id, TrialState.WAITING)


def claim(storage, trial_id):
    """Take a WAITING trial (a seed of a trial: antelope.sweeps.seeds) for this process, with the atomic state
    change Optuna's own `study.ask()` pops its queue with; whether this process got it (False: another worker took
    it first, or it ended meanwhile)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    try:
        if not storage.set_trial_state_values(trial_id, TrialState.RUNNING):
            return False
    except UpdateFinishedTrialError:
        return False
    take(storage, trial_id)
    return True


def finish(storage, trial_id, state, values=None):
    """End a trial taken by `claim` (COMPLETE, PRUNED or FAIL); one ended meanwhile (by its trial's end) is left."""
    from optuna.exceptions import UpdateFinishedTrialError

    try:
        storage.set_trial_state_values(trial_id, state, values)
    except UpdateFinishedTrialError:
        pass


def report(storage, trial_id, step, value):
    """A trial's intermediate value at `step`, what the pruner compares (as `Trial.report` writes it)."""
    storage.set_trial_intermediate_value(trial_id, step, value)


def take(storage, trial_id):
    """Record this process as the worker of a trial it took from `study.ask()` (new, queued, or lost)."""
    storage.set_trial_user_attr(trial_id, PROCESS, processes.this_process())


def read(storage, trial_id):
    """A trial as stored now (a FrozenTrial), by the storage's id."""
    return storage.get_trial(trial_id)


def mark(storage, trial_id, key, value):
    """Set a user attribute of a trial, by the storage's id."""
    storage.set_trial_user_attr(trial_id, key, value)


def check_owner(storage, trial_id, label, leaves):
    """Raises TakenOver when another worker runs `label` (a trial, a seed) now: this one was paused past its
    heartbeat's grace. `leaves`: what this worker does about it, said in the message."""
    running = owner(storage, trial_id)
    if running != processes.this_process():
        raise TakenOver(
            f"{label} was taken over by {running} (this worker's heartbeat had lapsed); this worker {leaves} to "
            f"{running}"
        )


def owner(storage, trial_id):
    """The worker process that runs the trial now, as the study records it ('' while it waits in the queue)."""
    return storage.get_trial(trial_id).user_attrs.get(PROCESS)
