"""Progress: a bar redrawn in place on a terminal (steps, rate, loss, last eval metric), plain lines
otherwise (logs, CI, pipes)."""
import os
import shutil
import sys
import time


class Progress:
    def __init__(self, total, start=0, stream=None):
        self.total, self.stream, self._step = total, stream or sys.stderr, start
        self.terminal = self.stream.isatty()
        self.quiet = int(os.environ.get("RANK", "0")) > 0  # under torchrun, rank 0 alone reports
        self._started, self._first = time.monotonic(), start

    def update(self, step, metrics):
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        self._step = step
        if self.quiet:
            return
        if not self.terminal:
            print(f"step {step}/{self.total}  {text}", file=self.stream, flush=True)
            return
        rate = (step - self._first) / max(time.monotonic() - self._started, 1e-9)
        head = f"{step}/{self.total} {rate:.0f} step/s "
        width = shutil.get_terminal_size().columns  # 80 when a terminal reports no size
        bar = max(10, min(30, width - len(head) - len(text) - 6))
        filled = round(bar * step / self.total)
        line = f"{head}[{'#' * filled}{'.' * (bar - filled)}] {text}"
        self.stream.write("\r" + line[:width - 1].ljust(width - 1))
        self.stream.flush()

    def close(self):
        if self.terminal and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
