"""`ml ui`: the MLflow UI on the tracking store `ml` writes to, on this machine only (127.0.0.1).

    ml ui                      # http://127.0.0.1:5000, until Ctrl-C; prints the address of the newest run's experiment
    ml ui Digits --port 5001   # and of experiment Digits's runs

The address it prints opens the experiment on its training runs (MLflow 3's UI opens an experiment on its GenAI
overview unless the address names the model-training workflow).

With MLFLOW_TRACKING_URI pointing at a tracking server (http://...), that server already serves the UI:
`ml ui` prints its address and starts nothing. A shared server for a team is in tracking/.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import urllib.request

from .. import tracking
from ..errors import ConfigError

START_SECONDS = 120  # the first start of a store runs MLflow's migrations


def main(argv):
    """`ml ui [--port N] [--host ADDRESS]`; returns the exit status when the UI stops."""
    parser = argparse.ArgumentParser(prog="ml ui", description="Start the MLflow UI on the tracking store.")
    parser.add_argument(
        "experiment", nargs="?", help="the experiment whose runs to open (default: that of the newest run)"
    )
    parser.add_argument("--port", type=int, default=tracking.UI_PORT, help=f"the port (default: {tracking.UI_PORT})")
    parser.add_argument(
        "--host",
        default=tracking.UI_HOST,
        help=f"the address to bind (default: {tracking.UI_HOST}, this machine only)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:
        return exit.code
    try:
        return ui(args.port, args.host, args.experiment)
    except ConfigError as error:
        print(f"ml: error: {error}", file=sys.stderr)
        return 2


def ui(port=tracking.UI_PORT, host=tracking.UI_HOST, experiment=None):
    """Run `mlflow ui` on MLflow's tracking URI until it stops or Ctrl-C; returns its exit status. It prints the
    address of `experiment`'s runs (default: the experiment of the newest run)."""
    uri = tracking.tracking_uri(redacted=False)
    shown = tracking.experiment_to_show(experiment)
    if uri.startswith(("http://", "https://")):
        page = tracking.ui_address(shown) if shown is not None else tracking.redact(uri)
        print(f"ml: the tracking server serves the UI: open {page}", file=sys.stderr)
        return 0
    _check_port(host, port)
    url = f"http://{host}:{port}"
    page = tracking.ui_address(shown, url) if shown is not None else url
    # One worker: the UI serves one person, and each worker is a whole Python process.
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    # MLflow's job runner (GenAI evaluations) would start 8 processes the UI of training runs does not use.
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    process = subprocess.Popen(command, env=env)
    for number in (signal.SIGINT, signal.SIGTERM):  # `kill` stops the UI server too, as Ctrl-C does, also when
        signal.signal(number, _interrupt)  # started in the background by a script (SIGINT inherited ignored)
    try:
        if _wait_until_up(url, process):
            runs = f"; the runs of the newest experiment: {page}" if experiment is None else f": {page}"
            print(
                f"ml: MLflow UI at {url} (store {tracking.redact(uri)}){runs if shown else ''}; Ctrl-C stops it",
                file=sys.stderr,
            )
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def _check_port(host, port):
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"cannot serve the UI on {host}:{port} ({error.strerror}); give another --port, e.g. --port {port + 1}"
            ) from None


def _wait_until_up(url, process):
    """Whether the server answers its /health within START_SECONDS (asked again every 0.3 s while it lives)."""
    from tenacity import RetryError, retry, retry_if_exception_type, stop_after_delay, wait_fixed

    class Exited(Exception):
        pass

    @retry(retry=retry_if_exception_type(OSError), stop=stop_after_delay(START_SECONDS), wait=wait_fixed(0.3))
    def ask():
        if process.poll() is not None:
            raise Exited  # not retried: the server is gone
        urllib.request.urlopen(f"{url}/health", timeout=2).close()

    try:
        ask()
    except (Exited, RetryError):
        return False
    return True
