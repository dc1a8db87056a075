"""stop_requests on its own: a first SIGINT/SIGTERM/SIGUSR2 is a request to stop, a second SIGINT/SIGTERM
stops at once, SIGUSR2 (Slurm's and submitit's warning) marks the stop as one to requeue, and the handlers in
place before are back afterwards."""

import os
import signal
import threading

import pytest

from antelope.train.interrupts import Interrupted, stop_requests

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGUSR2]


@pytest.fixture
def outside():
    """Handlers in place before stop_requests, recording what reaches them (so that a signal the code
    under test fails to catch fails the test instead of stopping pytest)."""
    reached = []

    def record(number, frame):
        reached.append(number)

    saved = {number: signal.signal(number, record) for number in SIGNALS}
    yield record, reached
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.parametrize("number", SIGNALS)
def test_a_first_signal_is_a_request_to_stop(outside, number):
    record, reached = outside
    with stop_requests() as requested:
        assert not requested()
        os.kill(os.getpid(), number)
        assert requested() == (number,)
    assert reached == []  # it did not reach the handler outside
    assert all(signal.getsignal(n) is record for n in SIGNALS)  # restored


@pytest.mark.parametrize(
    "first, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT), (signal.SIGUSR2, signal.SIGTERM)]
)
def test_a_second_signal_stops_at_once(outside, first, second):
    record, reached = outside
    with pytest.raises(Interrupted, match=f"stopped by signal {second.name}"):
        with stop_requests():
            os.kill(os.getpid(), first)
            os.kill(os.getpid(), second)
    assert issubclass(Interrupted, KeyboardInterrupt)  # what Ctrl-C raises, so callers treat it alike
    assert reached == [] and all(signal.getsignal(n) is record for n in SIGNALS)
    os.kill(os.getpid(), signal.SIGTERM)  # the handler outside is in force again
    assert reached == [signal.SIGTERM]


def test_outside_the_main_thread_nothing_is_installed(outside):
    record, _ = outside
    seen = []

    def worker():
        with stop_requests() as requested:
            seen.append((requested(), [signal.getsignal(n) for n in SIGNALS]))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [((), [record, record, record])]


def test_sigusr2_after_sigterm_marks_one_preemption_and_never_stops_at_once(outside):
    """submitit preempts a job with SIGTERM and then SIGUSR2: one request to stop, to requeue after."""
    with stop_requests() as requested:
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGUSR2)
        os.kill(os.getpid(), signal.SIGUSR2)
        assert requested() == (signal.SIGTERM, signal.SIGUSR2, signal.SIGUSR2)
