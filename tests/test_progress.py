"""Progress on its own: plain lines off a terminal, tqdm's bar on one (a pseudo-terminal), silence off rank 0."""

import io
import os
import pty

from antelope.train.progress import Progress


def test_plain_lines_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    with Progress(300, stream=stream) as progress:  # a log sink: every metrics write, the epoch left to the record
        progress({"train/loss": 0.123456, "train/lr": 0.01, "train/epoch": 3}, 100, False)
        progress({"eval/accuracy": 0.9}, 300, True)
    assert stream.getvalue().splitlines() == [
        "step 100/300  train/loss 0.1235  train/lr 0.01",
        "step 300/300  eval/accuracy 0.9",
    ]


def read_all(fd):
    """Everything written to the pseudo-terminal whose controller is `fd` (its terminal side closed)."""
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # EIO: the terminal side is closed and everything has been read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


def test_a_bar_on_a_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # room for the metrics on the bar's line
    controller, terminal = pty.openpty()
    try:
        with os.fdopen(terminal, "w") as stream:
            assert stream.isatty()
            with Progress(300, stream=stream) as progress:
                for step in (100, 200, 300):
                    progress({"train/loss": step / 1000, "eval/accuracy": 0.75}, step)
        screen = read_all(controller)
    finally:
        os.close(controller)
    assert screen.startswith("\r") and "%|" in screen  # tqdm's bar, redrawn in place
    last = screen.rstrip("\r\n").rsplit("\r", 1)[-1]  # the bar as it is left on the screen
    assert "100%|" in last and "300/300" in last and "step/s" in last
    assert "train/loss 0.3" in last and "eval/accuracy 0.75" in last
    assert "step 100/300" not in screen  # no plain lines


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_only_rank_0_reports(monkeypatch):
    monkeypatch.setenv("RANK", "1")
    for stream in (io.StringIO(), Terminal()):
        with Progress(300, stream=stream) as progress:
            progress({"train/loss": 0.5}, 100)
        assert stream.getvalue() == ""
    monkeypatch.setenv("RANK", "0")
    with Progress(300, stream=Terminal()) as progress:  # the stand-in terminal does get the bar on rank 0
        progress({"train/loss": 0.5}, 100)
    assert "100/300" in progress.stream.getvalue()


def test_a_label_starts_each_line_so_a_sweeps_trials_say_which_they_are():
    stream = io.StringIO()
    with Progress(300, label="trial 7", stream=stream) as progress:
        progress({"train/loss": 0.5}, 100)
    assert stream.getvalue().splitlines() == ["trial 7  step 100/300  train/loss 0.5"]
