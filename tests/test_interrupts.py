"""stop_requests on its own: a first SIGINT/SIGTERM is a request to stop, a second stops at once, and the
handlers in place before are back afterwards."""
import os
import signal
import threading

import pytest

from antelope.interrupts import Interrupted, stop_requests

SIGNALS = [signal.SIGINT, signal.SIGTERM]


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
        assert requested()
    assert reached == []  # it did not reach the handler outside
    assert all(signal.getsignal(n) is record for n in SIGNALS)  # restored


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT)])
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
    assert seen == [(False, [record, record])]
