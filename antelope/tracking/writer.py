"""Writer: metrics written in batches from a background thread, so training never waits on the tracking server.

Metrics are kept in order and handed to `write(batch)` at every flush (evaluations), whenever a whole batch
has piled up, and at least every `flush_seconds`. If `write` raises (the server is away) they are kept and
retried; at the end, what could not be written within the retry time is handed back to the caller.
"""

import sys
import threading
import time
from typing import NamedTuple, Optional

BATCH = 1000  # metrics per write: MLflow's most per log_batch call


class Metric(NamedTuple):
    key: str
    value: float
    timestamp: int  # milliseconds since the epoch
    step: int
    model_id: Optional[str] = None  # the logged model an evaluation's metric belongs to


class Writer:
    def __init__(self, write, name, flush_seconds=10.0, clock=time.monotonic):
        """`write(batch)` records a list of Metric (raising when it cannot); `clock` is injectable for tests."""
        self._write, self.flush_seconds, self._clock = write, flush_seconds, clock
        self._pending, self._lock, self._wake = [], threading.Lock(), threading.Event()
        self._written, self._progress = 0, threading.Condition(self._lock)  # how many were written, ever
        self._due = 0  # how many of the pending metrics to write now: flushed ones, or whole batches
        self._closing, self._deadline, self._last_flush = False, 0.0, clock()  # the deadline is set when closing
        self.failed_since = None
        self._thread = threading.Thread(target=self._loop, name=f"metrics-writer-{name}", daemon=True)
        self._thread.start()

    def add(self, metrics, flush):
        with self._lock:
            self._pending += metrics
            due = self._due
            if flush or self._clock() - self._last_flush > self.flush_seconds:
                self._due, self._last_flush = len(self._pending), self._clock()
            elif len(self._pending) >= self._due + BATCH:
                self._due += BATCH  # a whole batch is ready
            if self._due != due:
                self._wake.set()

    def _loop(self):
        while True:
            woken = self._closing or self._wake.wait(timeout=self.flush_seconds)
            self._wake.clear()
            with self._lock:
                if self._closing or not woken:  # closing, or quiet for flush_seconds: write everything
                    self._due = len(self._pending)
                due = self._due
            while due:
                with self._lock:
                    batch = self._pending[: min(due, BATCH)]
                if not batch:  # discarded meanwhile
                    break
                try:
                    self._write(batch)
                except Exception:  # the server is away (connection, HTTP or store errors): keep and retry
                    if self.failed_since is None:
                        self.failed_since = time.monotonic()
                        print(
                            "ml: warning: the tracking server is not answering; metrics are kept and retried",
                            file=sys.stderr,
                        )
                    if self._closing and time.monotonic() > self._deadline:
                        return
                    time.sleep(1.0)
                    continue
                if self.failed_since is not None:
                    print("ml: the tracking server is back; buffered metrics recorded", file=sys.stderr)
                    self.failed_since = None
                with self._lock:
                    del self._pending[: len(batch)]
                    self._due -= len(batch)
                    self._written += len(batch)
                    self._progress.notify_all()
                due -= len(batch)
            if self._closing and not self._pending:
                return

    def flush(self, timeout):
        """Write everything added so far now; returns whether it was written within `timeout` seconds."""
        with self._lock:
            target = self._written + len(self._pending)
            self._due = len(self._pending)
            self._wake.set()
            return self._progress.wait_for(lambda: self._written >= target, timeout)

    def discard(self):
        """Stop, dropping what is not written yet."""
        with self._lock:
            self._pending.clear()
            self._due = 0
        self.close(0)

    def close(self, retry_seconds):
        """Write everything pending (retrying up to `retry_seconds`); returns what could not be written."""
        self._deadline = time.monotonic() + retry_seconds  # before _closing: the thread reads it once closing
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=retry_seconds + 30)
        with self._lock:
            return list(self._pending)
