"""Writer on its own: when batches are written, in what order, and what happens while the server is away.

A fake server records what it is given; a fake clock stands for time. The writer's own timed wake is set
far off (flush_seconds=1000), so every write below is one the test caused and waits for.
"""

import threading

import pytest

from antelope.tracking.writer import BATCH, Metric, Writer

WAIT = 30  # seconds: generous, a write normally takes microseconds


class Server:
    """`write(batch)` as a tracking server: records each batch; raises while `away`."""

    def __init__(self):
        self.batches, self.away = [], False
        self.written, self.refused = threading.Semaphore(0), threading.Event()

    def __call__(self, batch):
        if self.away:
            self.refused.set()
            raise ConnectionError("the server is away")
        self.batches.append(list(batch))
        self.written.release()

    def wait_for_writes(self, n=1):
        for _ in range(n):
            assert self.written.acquire(timeout=WAIT), "the writer wrote nothing"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def metrics(start, stop):
    return [Metric("train/loss", float(i), 0, i) for i in range(start, stop)]


@pytest.fixture
def server():
    return Server()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def make(server, clock):
    writers = []

    def make():
        writers.append(Writer(server, "test", flush_seconds=1000, clock=clock))
        return writers[-1]

    yield make
    for each in writers:
        each.discard()  # no thread outlives its test


def test_nothing_is_written_until_a_flush_and_then_everything_in_order(server, make):
    writer = make()
    writer.add(metrics(0, 3), flush=False)
    writer.add(metrics(3, 5), flush=False)
    writer.add(metrics(5, 6), flush=True)
    server.wait_for_writes()
    assert server.batches == [metrics(0, 6)]  # one batch: nothing went before the flush
    writer.add(metrics(6, 8), flush=True)
    server.wait_for_writes()
    assert server.batches == [metrics(0, 6), metrics(6, 8)]


def test_a_whole_batch_is_written_without_a_flush(server, make):
    writer = make()
    writer.add(metrics(0, BATCH - 1), flush=False)
    writer.add(metrics(BATCH - 1, BATCH + 5), flush=False)  # a whole batch and 5 more
    server.wait_for_writes()
    assert server.batches == [metrics(0, BATCH)]  # the 5 wait for the next batch or flush
    writer.add(metrics(BATCH + 5, BATCH + 6), flush=True)
    server.wait_for_writes()
    assert server.batches[1] == metrics(BATCH, BATCH + 6)


def test_metrics_are_written_once_flush_seconds_have_passed(server, make, clock):
    writer = make()
    clock.now = 1000.0  # not yet more than flush_seconds
    writer.add(metrics(0, 2), flush=False)
    clock.now = 1000.5
    writer.add(metrics(2, 3), flush=False)
    server.wait_for_writes()
    assert server.batches == [metrics(0, 3)]
    writer.add(metrics(3, 4), flush=False)  # the time counts again from that write
    writer.add(metrics(4, 5), flush=True)
    server.wait_for_writes()
    assert server.batches == [metrics(0, 3), metrics(3, 5)]


def test_metrics_are_kept_while_the_server_is_away_and_written_when_it_is_back(server, make, capsys):
    writer = make()
    server.away = True
    writer.add(metrics(0, 3), flush=True)
    assert server.refused.wait(WAIT)
    writer.add(metrics(3, 5), flush=False)
    server.away = False  # the writer retries on its own
    server.wait_for_writes()
    writer.add(metrics(5, 6), flush=True)
    server.wait_for_writes()
    assert sum(server.batches, []) == metrics(0, 6)  # nothing lost, nothing twice, in order
    assert writer.close(retry_seconds=0) == []
    errors = capsys.readouterr().err
    assert errors.count("not answering") == 1 and errors.count("is back") == 1


def test_close_writes_everything_pending(server, make):
    writer = make()
    writer.add(metrics(0, 5), flush=False)
    assert writer.close(retry_seconds=10) == []
    assert server.batches == [metrics(0, 5)]


def test_close_hands_back_what_could_not_be_written(server, make):
    writer = make()
    server.away = True
    writer.add(metrics(0, 5), flush=False)
    assert writer.close(retry_seconds=0) == metrics(0, 5)
    assert server.refused.is_set() and server.batches == []  # it was tried


def test_discard_drops_pending_metrics(server, make):
    writer = make()
    writer.add(metrics(0, 5), flush=False)
    writer.discard()
    assert writer.close(retry_seconds=0) == [] and server.batches == []
