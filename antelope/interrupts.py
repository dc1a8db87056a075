"""Stopping cleanly on SIGINT/SIGTERM: the trainer finishes its step, saves a checkpoint and ends the
run KILLED. A second signal stops at once."""
import contextlib
import signal
import threading


class Interrupted(KeyboardInterrupt):
    """Training stopped on a signal, after saving a checkpoint."""


@contextlib.contextmanager
def stop_requests():
    """Yields a function that says whether SIGINT/SIGTERM arrived; restores the old handlers after."""
    received = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False  # signals are only delivered to the main thread
        return

    def handle(number, frame):
        if received:  # the second signal: stop now
            raise Interrupted(f"stopped by signal {signal.Signals(number).name}")
        received.append(number)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield lambda: bool(received)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
