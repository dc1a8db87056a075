"""Stopping cleanly on a signal: the trainer finishes its step, saves a checkpoint and ends the run KILLED.

SIGINT (Ctrl-C) and SIGTERM (kill, scancel, a preempting scheduler) ask to stop; a second one stops at once.
SIGUSR2 is Slurm's warning before a job's time limit (`--signal=USR2@...`, which submitit asks for) and
submitit's preemption signal: it asks to stop too, and marks the stop as one to requeue the job after.
"""

import contextlib
import signal
import threading

REQUEUE = signal.SIGUSR2
SIGNALS = (signal.SIGINT, signal.SIGTERM, REQUEUE)


class Interrupted(KeyboardInterrupt):
    """Training stopped on a signal, after saving a checkpoint; `requeue`: one of them was REQUEUE."""

    def __init__(self, message="", requeue=False):
        super().__init__(message)
        self.requeue = requeue


@contextlib.contextmanager
def stop_requests():
    """Yields a function that returns the signals received so far (none: go on); restores the old handlers
    after. A second SIGINT/SIGTERM raises Interrupted at once; REQUEUE never does (submitit sends SIGTERM and
    then SIGUSR2 for one preemption)."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: ()  # signals are only delivered to the main thread
        return

    def handle(number, frame):
        if received and number != REQUEUE:  # the second signal: stop now
            raise Interrupted(f"stopped by signal {signal.Signals(number).name}")
        received.append(number)

    previous = {s: signal.signal(s, handle) for s in SIGNALS}
    try:
        yield lambda: tuple(received)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
