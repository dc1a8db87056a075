"""Progress: tqdm's bar on a terminal (steps, rate, the latest metrics), plain lines elsewhere (logs, CI,
pipes), where a bar redrawn with carriage returns would be noise. Under torchrun only rank 0 reports.

A Progress is one of the log's sinks (antelope.train.log): it shows every metrics write of the loop."""

import os
import sys


class Progress:
    def __init__(self, total, start=0, label="", stream=None):
        self.total, self.stream, self.label = total, stream or sys.stderr, label
        self.quiet = int(os.environ.get("RANK", "0")) > 0
        self.bar = None
        if not self.quiet and self.stream.isatty():
            from tqdm import tqdm

            size = _size(self.stream)
            self.bar = tqdm(
                total=total,
                initial=start,
                unit="step",
                file=self.stream,
                ncols=size.columns,
                nrows=size.lines,
                desc=label or None,
            )

    def __call__(self, metrics, step, flush=False):
        """A log sink: the metrics written at `step` (all but the epoch, which the record holds)."""
        if self.quiet:
            return
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k != "train/epoch")
        if self.bar is None:
            print(
                f"{self.label + '  ' if self.label else ''}step {step}/{self.total}  {text}",
                file=self.stream,
                flush=True,
            )
            return
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(step - self.bar.n)

    def __enter__(self):
        return self

    def __exit__(self, *error):
        if self.bar is not None:
            self.bar.close()
        return False


def _size(stream):
    """The stream's terminal size, as shutil's for stdout: $COLUMNS and $LINES first, and 80x24 where the
    terminal reports none (tqdm would then draw nothing)."""
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        size = os.terminal_size((0, 0))
    columns = int(os.environ.get("COLUMNS", 0) or 0) or size.columns or 80
    return os.terminal_size((columns, int(os.environ.get("LINES", 0) or 0) or size.lines or 24))
