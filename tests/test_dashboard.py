"""`ml dashboard`: optuna-dashboard on a sweep's journal file, on 127.0.0.1, stopped by Ctrl-C or SIGTERM with
nothing left behind; each bad input is one line. The errors go through the console's entry point in this
process (antelope.cli.main, what the `ml` script calls); the slow test runs the `ml` script itself."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import psutil
import pytest
from conftest import ML

from antelope import cli
from antelope.sweeps import studies


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port):
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def dashboard(capsys, *args):
    """(exit status, stderr) of `ml dashboard ARGS`."""
    status = cli.main(["dashboard", *args])
    return status, capsys.readouterr().err


def test_without_the_extra_it_says_what_to_install(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # what `import` meets when it is not installed
    assert dashboard(capsys) == (
        2,
        "ml: error: ml dashboard needs optuna-dashboard: pip install 'antelope[dashboard]'\n",
    )


def test_without_a_journal_it_names_the_path_and_makes_none(capsys, workdir):
    for given, path in (
        ([], workdir / "optuna.journal"),
        (["--storage", "sweeps/s.journal"], workdir / "sweeps" / "s.journal"),
    ):
        assert dashboard(capsys, *given) == (
            2,
            f"ml: error: no sweep journal at {path}: a sweep (`ml -m ...`) writes "
            f"optuna.journal in the folder it runs in (or at sweep.storage=PATH); "
            f"run `ml dashboard` there, or give --storage PATH or a database URL "
            f"(--storage postgresql://user@host/db)\n",
        )
        assert not path.exists()


def test_an_unreachable_database_is_the_error_of_the_sweeps_storage(capsys):
    status, err = dashboard(capsys, "--storage", "postgresql://nobody@127.0.0.1:1/none")
    assert status == 2
    assert err.startswith("ml: error: cannot reach sweep.storage=postgresql+psycopg://nobody@127.0.0.1:1/none: ")
    assert err.count("\n") == 1


def test_a_busy_port_names_the_port_and_another(capsys):
    studies.open_storage(studies.JOURNAL)  # an empty journal: what a sweep writes first
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert dashboard(capsys, "--port", str(port)) == (
            2,
            f"ml: error: cannot serve the dashboard on 127.0.0.1:{port} (Address already in use); "
            f"give another --port, e.g. --port {port + 1}\n",
        )


def test_another_host_is_served_with_a_warning_and_sigterm_stops_it(capsys):
    studies.open_storage(studies.JOURNAL)
    port, returned = free_port(), threading.Event()

    def stop_when_up():  # a real SIGTERM to this process, as `kill` sends one, once the port answers
        deadline = time.monotonic() + 60
        while not answers(port) and time.monotonic() < deadline and not returned.is_set():
            time.sleep(0.05)
        if not returned.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_when_up)
    stopper.start()
    try:
        status, err = dashboard(capsys, "--host", "0.0.0.0", "--port", str(port))
    finally:
        returned.set()
        stopper.join()
    assert (status, err.splitlines()) == (
        0,
        [
            f"ml: warning: the dashboard listens on 0.0.0.0, beyond this machine, and has no login: whoever reaches "
            f"port {port} can rename and delete studies",
            f"ml: Optuna dashboard at http://0.0.0.0:{port} (storage {os.path.abspath(studies.JOURNAL)}); "
            f"Ctrl-C stops it",
        ],
    )
    assert not answers(port)
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.slow
def test_ml_dashboard_lists_a_sweeps_study_and_ctrl_c_stops_it_and_all_it_started(workdir):
    storage = studies.open_storage("sweeps/optuna.journal")
    study, _ = studies.create_or_load(storage, "digits-lr", "maximize", None, None)
    trial = study.ask()
    trial.suggest_float("optim.lr", 1e-4, 1e-1, log=True)
    study.tell(trial, 0.9)
    port = free_port()
    process = subprocess.Popen(
        [ML, "dashboard", "--storage", "sweeps/optuna.journal", "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
        # as a script's background job starts it (SIGINT ignored), where Python would not raise KeyboardInterrupt:
        # Ctrl-C (SIGINT) must stop it all the same
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # until the API answers (the console imports MLflow and Optuna first)
            assert process.poll() is None and time.monotonic() < deadline, (
                process.stderr.read() if process.poll() is not None else "no answer in 120 s"
            )
            try:
                listed = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=10))
                break
            except OSError:
                time.sleep(0.2)
        assert [s["study_name"] for s in listed["study_summaries"]] == ["digits-lr"]
        detail = json.load(
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/studies/{listed['study_summaries'][0]['study_id']}", timeout=30
            )
        )
        assert [(t["values"], [p["name"] for p in t["params"]]) for t in detail["trials"]] == [([0.9], ["optim.lr"])]
        started = psutil.Process(process.pid).children(recursive=True)
    finally:
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=60)
    assert status == 0
    assert process.stderr.read().splitlines()[-1] == (
        f"ml: Optuna dashboard at http://127.0.0.1:{port} (storage {workdir / 'sweeps' / 'optuna.journal'}); "
        f"Ctrl-C stops it"
    )
    assert psutil.wait_procs(started, timeout=30)[1] == []  # whatever it started went with it
    assert not answers(port)
