"""Optuna, and only here: a sweep's study, its storage, sampler and pruner, heartbeats and lost trials.

The storage is a journal file by default (safe for several local processes; never SQLite for parallel
workers) or a database (`sweep.storage=postgresql://...`, shared by machines). While a worker runs a trial
it writes a heartbeat into the trial every `sweep.heartbeat` seconds (a system attribute holding the time,
the same on the journal file and on a database). A RUNNING trial whose heartbeat stopped for GRACE
heartbeats (its worker killed, its machine lost), or whose recorded process on this machine is gone, is
claimed by the next free worker, which continues it as the same trial. Optuna's own heartbeat would fail
it and retry it as a new trial, and its journal storage has none. Only Optuna's public API is used.
"""
import os
import threading
import time
import weakref

from . import processes, tracking
from .errors import ConfigError
from .imports import did_you_mean

JOURNAL = "optuna.journal"  # the default storage, in the working directory (like MLflow's mlflow.db)
GRACE = 3  # heartbeats a trial may miss before it counts as lost (loaded machines lag)
HEARTBEAT = "antelope.heartbeat"  # a running trial's system attribute: the time of its last heartbeat
PROCESS = "process"  # a trial's user attribute: the worker process running it, 'host:pid'
CLAIM = "claim"  # a trial's user attribute while a worker takes it over: 'host:pid@time'
RELEASED = "released"  # a trial's user attribute: the worker process that stopped it with a checkpoint, 'host:pid'
SAMPLERS = {"tpe": "TPESampler", "random": "RandomSampler", "grid": "GridSampler", "cmaes": "CmaEsSampler",
            "gp": "GPSampler", "qmc": "QMCSampler"}
PRUNERS = ("median", "hyperband", "halving", "none")
_ALIASES = {"sampler": {"cmaes": ("cma",)},
            "pruner": {"halving": ("successivehalving", "successive_halving", "sha"), "none": ("nop",)}}


def choose(kind, given):
    """The canonical sampler or pruner name for what the user wrote ('TPESampler', 'tpe', 'nop', ...)."""
    names = list(SAMPLERS) if kind == "sampler" else list(PRUNERS)
    name = given.lower().replace("-", "").removesuffix(kind)
    for canonical, others in _ALIASES[kind].items():
        if name in others:
            name = canonical
    if name not in names:
        raise ConfigError(f"unknown sweep.{kind}={given!r}{did_you_mean(name, names)}; "
                          f"choose one of {', '.join(names)}")
    return name


def open_storage(url, workers=1):
    """Optuna storage: a database URL (RDBStorage), else a journal file, safe for many processes."""
    import optuna

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
        raise ConfigError(f"sweep.storage={url} is SQLite, which several processes cannot share safely; "
                          f"leave sweep.storage unset for a journal file, or use a database server")
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

    @retry(retry=retry_if_not_exception_type(OperationalError), stop=stop_after_attempt(5),
           wait=wait_random(0.5, 1.5), reraise=True)
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

    first = evaluate_every or train_steps or "auto"
    if name == "median":  # no pruning before 5 finished trials nor in the first quarter of training
        return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=train_steps // 4)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=first, max_resource=train_steps or "auto")
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first)
    return optuna.pruners.NopPruner()


def create_or_load(storage, name, directions, sampler, pruner):
    """(study, created): the study `name` of one objective per direction ('maximize', 'minimize'), created,
    or loaded to resume (then its sampler is the one given)."""
    import optuna

    directions = [directions] if isinstance(directions, str) else list(directions)
    try:
        return optuna.create_study(storage=storage, study_name=name, directions=directions, sampler=sampler,
                                   pruner=pruner), True
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    found = [d.name.lower() for d in study.directions]
    if found != directions:
        raise ConfigError(f"study {name!r} exists and is to {','.join(found)}; sweep.direction={','.join(directions)} "
                          f"needs another sweep.study")
    return study, False


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


_STUDY_IDS = weakref.WeakKeyDictionary()  # {storage: {study name: its id}}, forgotten with the storage


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
    """When a running trial last showed it is alive: a heartbeat, its start, or a worker's claim of it."""
    claim = trial.user_attrs.get(CLAIM, "@0").rpartition("@")[2]
    return max(trial.system_attrs.get(HEARTBEAT, 0), trial.datetime_start.timestamp(), float(claim))


def claim_lost_trial(study, storage, interval, trials=None):
    """A RUNNING trial whose worker is lost, claimed for this process, with why it counts as lost; or
    (None, None). Lost: released by its worker (`release`), its recorded process on this machine is gone
    (both known at once), or no sign of life for GRACE heartbeats of `interval` seconds (any machine). Two workers may find the same one: each
    writes its claim, waits, and the one whose claim is still there takes it; a fresh claim by another
    worker is left alone."""
    import optuna
    from optuna.trial import TrialState

    me, now = processes.this_process(), time.time()
    trials = study.get_trials(deepcopy=False) if trials is None else trials  # the caller's read, when it has one
    for trial in (t for t in trials if t.state == TrialState.RUNNING):
        recorded = trial.user_attrs.get(PROCESS, "")
        if recorded and trial.user_attrs.get(RELEASED) == recorded:
            why = f"its worker {recorded} stopped it on a signal, with a checkpoint"
        elif processes.gone(recorded):
            why = f"its process {recorded.rpartition(':')[2]} is gone"
        elif now - _last_sign_of_life(trial) > GRACE * interval:
            why = f"its heartbeat stopped (worker {recorded or '?'})"
        else:
            continue
        claimer, _, at = trial.user_attrs.get(CLAIM, "").rpartition("@")
        if claimer and claimer != me and now - float(at) < GRACE * interval:
            continue  # another worker is taking it over
        identity = trial_id(storage, study, trial.number)
        storage.set_trial_user_attr(identity, CLAIM, f"{me}@{time.time()}")
        time.sleep(0.5)  # let a rival's claim land first, if there is one
        if storage.get_trial_user_attrs(identity).get(CLAIM, "").startswith(f"{me}@"):
            storage.set_trial_user_attr(identity, PROCESS, me)
            return optuna.trial.Trial(study, identity), why
    return None, None


def release(storage, trial_id):
    """Leave the running trial to the next free worker at once (this worker stopped it with a checkpoint:
    a signal, a preempted or timed-out Slurm job), instead of after its heartbeat's grace."""
    storage.set_trial_user_attr(trial_id, RELEASED, processes.this_process())


def owner(storage, trial_id):
    """The worker process that runs the trial now, as the study records it: the one that asked for it,
    or the one that took it over."""
    return storage.get_trial_user_attrs(trial_id).get(PROCESS)
