"""Where sweeps keep their studies: Optuna storage, and the trials whose worker was lost.

The storage is a journal file by default (safe for several local processes; never SQLite for parallel
workers) or a database (`sweep.storage=postgresql://...`, shared by machines). A worker records a
heartbeat for its running trial every `sweep.heartbeat` seconds (Optuna's heartbeat: RDBStorage's own,
and the same protocol on the journal file). A RUNNING trial whose heartbeat stopped for GRACE heartbeats
(its worker killed, its machine lost), or whose recorded process on this machine is gone, is claimed by
the next free worker, which continues it. Optuna's own handling would fail it and retry it as a new trial.
"""
import functools
import os
import random
import socket
import time
import warnings

from . import tracking
from .errors import ConfigError

JOURNAL = "optuna.journal"  # the default storage, in the working directory (like MLflow's mlflow.db)
GRACE = 3  # heartbeats a trial may miss before it counts as lost (Optuna's default is 2; loaded machines lag)
HEARTBEAT = "antelope.heartbeat"  # a journal trial's system attribute: the time of its last heartbeat


def open_storage(url, workers=1, heartbeat=None):
    """Optuna storage: a database URL (RDBStorage), else a journal file, safe for many processes; with
    `heartbeat` (seconds), running trials record heartbeats and those silent for GRACE of them are stale."""
    import optuna

    grace = GRACE * heartbeat if heartbeat else None

    if "://" not in url:
        path = os.path.abspath(os.path.expanduser(url))
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
        except OSError as error:
            raise ConfigError(f"cannot write the sweep journal sweep.storage={url}: {error.strerror}") from None
        from optuna.storages.journal import JournalFileBackend

        return _journal()(JournalFileBackend(path), heartbeat, grace)
    if url.startswith("sqlite") and workers > 1:
        raise ConfigError(f"sweep.storage={url} is SQLite, which several processes cannot share safely; "
                          f"leave sweep.storage unset for a journal file, or use a database server")
    scheme = url.split("://", 1)[0]
    engine = {}
    if scheme in ("postgresql", "postgres"):
        url = f"postgresql+{_postgres_driver()}://{url.split('://', 1)[1]}"
    if url.startswith("postgresql"):
        engine = {"connect_args": {"connect_timeout": 10}}
    from sqlalchemy.exc import OperationalError

    for attempt in range(5):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=heartbeat,
                                                  grace_period=grace)
        except Exception as error:
            # Several machines starting at once on a new database race to create Optuna's tables: the
            # losers see a constraint error and try again. A connection error is final.
            if isinstance(error, OperationalError) or attempt == 4:
                reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
                raise ConfigError(f"cannot reach sweep.storage={tracking.redact(url)}: {reason}") from None
            time.sleep(0.5 + random.random())


@functools.cache
def _journal():
    """Optuna's journal storage with the heartbeat its RDBStorage has (Optuna 5's journal has none): a
    heartbeat is a trial system attribute holding the wall-clock time, appended to the journal."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.storages._heartbeat import BaseHeartbeat
    from optuna.storages.journal import JournalStorage
    from optuna.trial import TrialState

    class Journal(JournalStorage, BaseHeartbeat):
        def __init__(self, backend, heartbeat_interval, grace_period):
            super().__init__(backend)
            self.heartbeat_interval, self.grace_period = heartbeat_interval, grace_period
            self._beating = set()

        def record_heartbeat(self, trial_id):
            """A beat every interval; the first one is skipped, as the trial's start or its claim, both in
            the journal, count as beats: a trial shorter than one interval adds no line to the journal."""
            if trial_id not in self._beating:
                self._beating.add(trial_id)
                return
            try:
                self.set_trial_system_attr(trial_id, HEARTBEAT, time.time())
            except UpdateFinishedTrialError:  # a last beat racing the trial's end
                pass

        def _get_stale_trial_ids(self, study_id):
            """RUNNING trials with no sign of life for grace_period seconds: a heartbeat, a start, a claim."""
            def last(trial):
                claim = trial.user_attrs.get("claim", "@0").rpartition("@")[2]
                return max(trial.system_attrs.get(HEARTBEAT, 0), trial.datetime_start.timestamp(), float(claim))

            now = time.time()
            return [t._trial_id for t in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
                    if now - last(t) > self.grace_period]

        def get_heartbeat_interval(self):
            return self.heartbeat_interval

        def get_heartbeat_stale_trial_callback(self):
            return None

    return Journal


def _postgres_driver():
    """psycopg2 when installed (SQLAlchemy's default for postgresql://), else psycopg 3."""
    try:
        import psycopg2  # noqa: F401

        return "psycopg2"
    except ImportError:
        return "psycopg"


def this_process():
    """'host:pid': how a study records the worker process running a trial."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_lost_trial(study):
    """A RUNNING trial whose worker is lost, claimed for this process, with why it counts as lost; or
    (None, None). Lost: its heartbeat stopped (any machine), or its recorded process on this machine is
    gone (known at once, without waiting out the heartbeat's grace). Two workers may find the same one:
    each writes its claim, waits, and the one whose claim is still there takes it; a fresh claim by
    another worker is left alone."""
    import optuna
    from optuna.trial import TrialState

    storage, host, me = study._storage, socket.gethostname(), this_process()
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    stale = set(storage._get_stale_trial_ids(study._study_id)) if running else set()
    for trial in running:
        recorded, _, pid = trial.user_attrs.get("process", "").rpartition(":")
        if recorded == host and pid.isdigit() and not tracking._alive(int(pid)):
            why = f"its process {pid} is gone"
        elif trial._trial_id in stale:
            why = f"its heartbeat stopped (worker {trial.user_attrs.get('process', '?')})"
        else:
            continue
        claimer, _, at = trial.user_attrs.get("claim", "").rpartition("@")
        if claimer and claimer != me and time.time() - float(at) < GRACE * storage.get_heartbeat_interval():
            continue  # another worker is taking it over
        storage.set_trial_user_attr(trial._trial_id, "claim", f"{me}@{time.time()}")
        time.sleep(0.5)
        if storage.get_trial(trial._trial_id).user_attrs.get("claim", "").startswith(f"{me}@"):
            storage.set_trial_user_attr(trial._trial_id, "process", me)
            return optuna.trial.Trial(study, trial._trial_id), why
    return None, None
