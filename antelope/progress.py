"""Progress: a bar on a terminal (steps, loss, last eval metric), plain lines otherwise."""
import sys


class Progress:
    def __init__(self, total, start=0, stream=None):
        self.total, self.stream = total, stream or sys.stderr
        self.bar = None
        if self.stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=start, file=self.stream, unit="step", dynamic_ncols=True)
        self._step = start

    def update(self, step, metrics):
        text = "  ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        if self.bar is not None:
            self.bar.update(step - self._step)
            self.bar.set_postfix_str(text, refresh=True)
        else:
            print(f"step {step}/{self.total}  {text}", file=self.stream, flush=True)
        self._step = step

    def close(self):
        if self.bar is not None:
            self.bar.close()
