"""`ml dashboard`: optuna-dashboard on a sweep's Optuna storage, on this machine only (127.0.0.1).

    pip install 'antelope[dashboard]'
    ml dashboard                             # ./optuna.journal at http://127.0.0.1:8080, until Ctrl-C
    ml dashboard --storage sweeps/optuna.journal --port 8081
    ml dashboard --storage postgresql://user@host/db

It serves in this process (optuna-dashboard's WSGI app on the standard library's server, as its own
console does), so Ctrl-C or `kill` stops it with nothing left behind. The studies' runs are in MLflow
(`ml ui`); this shows what Optuna saw: trials, their intermediate values, the importance of each key.
"""

import argparse
import errno
import ipaddress
import os
import signal
import socketserver
import sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from .. import tracking
from ..errors import ConfigError
from . import studies


def main(argv):
    """`ml dashboard [--storage PATH|URL] [--port N] [--host ADDRESS]`; returns the exit status when it stops."""
    parser = argparse.ArgumentParser(
        prog="ml dashboard", description="Start optuna-dashboard on a sweep's Optuna storage."
    )
    parser.add_argument(
        "--storage",
        default=studies.JOURNAL,
        help=f"the sweep's journal file or a database URL such as postgresql://user@host/db "
        f"(default: ./{studies.JOURNAL}, where `ml -m ...` writes it)",
    )
    parser.add_argument("--port", type=int, default=8080, help="the port (default: 8080)")
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to bind (default: 127.0.0.1, this machine only)"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return exit.code
    try:
        return dashboard(args.storage, args.port, args.host)
    except ConfigError as error:
        print(f"ml: error: {error}", file=sys.stderr)
        return 2


def dashboard(storage=studies.JOURNAL, port=8080, host="127.0.0.1"):
    """Serve optuna-dashboard on `storage` (a journal file or a database URL) until Ctrl-C or SIGTERM; 0 then."""
    try:
        import optuna_dashboard
    except ImportError:
        raise ConfigError("ml dashboard needs optuna-dashboard: pip install 'antelope[dashboard]'") from None
    if "://" in storage:
        shown = tracking.redact(storage)
    else:
        # open_storage would create a missing journal, and an empty dashboard explains nothing.
        shown = os.path.abspath(os.path.expanduser(storage))
        if not os.path.isfile(shown):
            raise ConfigError(
                f"no sweep journal at {shown}: a sweep (`ml -m ...`) writes {studies.JOURNAL} in "
                f"the folder it runs in (or at sweep.storage=PATH); run `ml dashboard` there, or "
                f"give --storage PATH or a database URL (--storage postgresql://user@host/db)"
            )
    app = optuna_dashboard.wsgi(studies.open_storage(storage))
    # `kill` stops it as Ctrl-C does; set before the port opens, so whoever finds it open can stop it, and put
    # back after, for a caller in the same process. SIGINT too: a process started in the background by a script
    # inherits SIGINT ignored, and Python then never turns it into KeyboardInterrupt.
    previous = {number: signal.signal(number, _interrupt) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        with _listen(host, port, app) as server:
            if not _loopback(host):
                print(
                    f"ml: warning: the dashboard listens on {host}, beyond this machine, and has no login: "
                    f"whoever reaches port {port} can rename and delete studies",
                    file=sys.stderr,
                )
            print(f"ml: Optuna dashboard at http://{host}:{port} (storage {shown}); Ctrl-C stops it", file=sys.stderr)
            server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 0


def _listen(host, port, app):
    try:
        return make_server(host, port, app, server_class=_Server, handler_class=_Handler)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"cannot serve the dashboard on {host}:{port} ({error.strerror}); give another "
                f"--port, e.g. --port {port + 1}"
            ) from None
        raise ConfigError(f"cannot serve the dashboard on {host}:{port}: {error.strerror or error}") from None


def _loopback(host):
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may well be this machine's address on the network
        return False


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    """One thread per request, as optuna-dashboard's own console serves; daemon threads, so a request still
    open (the browser's next poll) does not hold the exit."""

    daemon_threads = True


class _Handler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        """The page polls the API every few seconds: a line per request would bury ours (errors still print)."""


def _interrupt(signum, frame):
    raise KeyboardInterrupt
