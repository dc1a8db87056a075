"""The MLflow client, and how antelope reaches the store: which tracking URI, a tracking server's login checked
once in one line, MLflow's refusals (401, 403) as one-line errors, credentials masked in everything recorded or
printed, and MLflow's own log lines kept quiet where antelope says it better."""

import contextlib
import logging
import os
import re
import urllib.parse

from .. import processes
from ..errors import ConfigError

_PROGRESS_BARS = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
_CREDENTIALS = re.compile(r"(?<=://)([^/:@\s]*):([^/@\s]+)@")
_USER_INFO = re.compile(r"(?<=://)([^/:@\s]*)(?::[^/@\s]*)?@")  # user:password@ of http://user:password@host
_CLIENTS: dict = {}  # per process: {tracking URI: MlflowClient}


def redact(text):
    """'postgresql://user:secret@host/db' -> 'postgresql://user:***@host/db' (and so for http://)."""
    return _CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@", str(text))


def tracking_uri(redacted=True):
    import mlflow

    uri = mlflow.get_tracking_uri()
    return redact(uri) if redacted else uri


UI_HOST, UI_PORT = "127.0.0.1", 5000  # where `ml ui` serves a local store unless told otherwise


def ui_address(experiment_id, base=None):
    """The MLflow UI's page of an experiment's training runs, on `base` (default: the tracking server that serves
    the UI, else where `ml ui` serves it). The address names the model-training workflow: MLflow 3's UI opens an
    experiment on its GenAI overview otherwise, whatever the experiment's tags say."""
    uri = tracking_uri(redacted=False)
    if base is None:
        server = uri.startswith(("http://", "https://"))
        base = _USER_INFO.sub("", uri, count=1) if server else f"http://{UI_HOST}:{UI_PORT}"
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def see_it(experiment_id):
    """The line that tells where to see an experiment's runs: once per command (a run, a sweep)."""
    uri = tracking_uri(redacted=False)
    start = "" if uri.startswith(("http://", "https://")) else "ml ui, then "
    return f"see it with: {start}{ui_address(experiment_id)}   (or: ml runs, ml plot)"


def use(uri):
    """Record into `uri` from now on in this process (a sweep's worker process: its parent's store)."""
    import mlflow

    mlflow.set_tracking_uri(uri)


def client():
    """An MlflowClient on MLflow's tracking URI, after checking that a tracking server answers and, the first
    time, that it takes this process's login; one per URI and process (creating one costs more than a sweep
    trial's logging)."""
    from mlflow import MlflowClient

    uri = tracking_uri(redacted=False)
    server = uri.startswith(("http://", "https://"))
    if server:
        import urllib.error
        import urllib.request

        try:  # without user:password@, which urllib would take for part of the host name
            urllib.request.urlopen(_USER_INFO.sub("", uri, count=1).rstrip("/") + "/health", timeout=10).close()
        except (urllib.error.URLError, OSError) as error:
            raise ConfigError(
                f"cannot reach the MLflow tracking server MLFLOW_TRACKING_URI={redact(uri)} "
                f"({getattr(error, 'reason', error)}); start it or unset MLFLOW_TRACKING_URI "
                f"to use ./mlflow.db"
            ) from None
    if uri not in _CLIENTS:
        if not processes.verbose() and "MLFLOW_LOGGING_LEVEL" not in os.environ:  # else MLflow's own setting
            for name in ("mlflow", "alembic"):  # a new store's migrations log through alembic
                logging.getLogger(name).setLevel(logging.WARNING)
        client = MlflowClient(uri)
        if server:
            check_login(client, uri)
        _CLIENTS[uri] = client
    return _CLIENTS[uri]


def check_login(client, uri):
    """A server with MLflow's login (tracking/server.sh opened to a network) answers /health to anyone and
    everything else only to its users: one small request that needs a login tells now, in one line, what
    would otherwise be a traceback in the middle of a run."""
    if _USER_INFO.search(uri):
        # MLflow prints each finished run's link on this URI, user:password@ and all.
        os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    with refusals(uri, "read its experiments"):
        client.search_experiments(max_results=1)


@contextlib.contextmanager
def refusals(uri, doing):
    """MLflow's refusals (401, 403) inside as one-line ConfigErrors; other errors as they are."""
    try:
        yield
    except Exception as error:
        refused = refused_error(error, uri, doing)
        if refused is None:
            raise
        raise refused from None


# What MLflow's server answers (403) to a request whose Host header is not among its --allowed-hosts
# (mlflow.server.security_utils.INVALID_HOST_MSG), before it looks at any login.
_HOST_REFUSED = "Invalid Host header"


def refused_error(error, uri, doing):
    """MLflow's answer 401 (no login, or a wrong one) or 403 (a request to an address the server does not
    allow, or a user without the permission) as a one-line ConfigError naming the server and what to set;
    None for any other error."""
    code = getattr(error, "error_code", None)
    if code not in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return None
    in_uri = _USER_INFO.search(uri)
    user = os.environ.get("MLFLOW_TRACKING_USERNAME") or (in_uri.group(1) if in_uri else None)
    server = f"the MLflow tracking server MLFLOW_TRACKING_URI={redact(uri)}"
    if code == "PERMISSION_DENIED" and _HOST_REFUSED in str(error):  # MLflow's allowed-hosts check, before any login
        address = urllib.parse.urlsplit(uri).netloc.rpartition("@")[2]
        return ConfigError(
            f"{server} refuses requests addressed to {address} (its allowed-hosts check, before any login): start "
            f"it with ALLOWED_HOSTS={address} (tracking/server.sh), or reach it at an address it allows"
        )
    if code == "PERMISSION_DENIED":
        return ConfigError(
            f"{server} does not let user {user!r} {doing}; its admin can give EDIT permission (tracking/README.md)"
        )
    refused = f"refused the login of user {user!r}" if user else "asks for a login"
    return ConfigError(
        f"{server} {refused}: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD to an "
        f"account on it (its admin creates accounts: tracking/README.md)"
    )


@contextlib.contextmanager
def quiet(logger, level=logging.ERROR):
    """MLflow's INFO and WARNING lines of one of its loggers, and its progress bars of artifact transfers, left
    out while antelope calls it: what they say is either antelope's choice (pickled models), what antelope prints
    itself, or noise (a model copied between two folders of the store)."""
    logger = logging.getLogger(logger)
    before, bars = logger.level, os.environ.get(_PROGRESS_BARS)
    logger.setLevel(level)
    os.environ[_PROGRESS_BARS] = "false"
    try:
        yield
    finally:
        logger.setLevel(before)
        if bars is None:
            del os.environ[_PROGRESS_BARS]
        else:
            os.environ[_PROGRESS_BARS] = bars
