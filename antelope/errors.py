"""The one error type for bad input: a wrong key, value, name, path or model signature."""


class ConfigError(ValueError):
    """Bad input from the user. Its message is one line naming the bad value and what would be valid.

    The console prints it without a traceback and exits with status 2.
    """


class Stop(Exception):
    """Ends a run early on purpose (a sweep trial's `stop(step)` returns one and the trainer raises it): the run
    ends KILLED, not FAILED. A pruned sweep trial is the example."""


class Pruned(Stop):
    """A sweep trial its pruner ended at `step`: the run did what the sweep asked of it, so it ends FINISHED (MLflow
    has no PRUNED status; KILLED would show it as the same red mark as a failure), named and tagged as pruned."""

    def __init__(self, message, step):
        super().__init__(message)
        self.step = step


class TakenOver(Stop):
    """A sweep trial this process was running was taken over by another worker (this one's heartbeat had
    lapsed, say the process was paused): the run is left as it is, to the worker that continues it."""


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss): the run ends FAILED and the console prints one line."""


class Diverged(TrainingError):
    """The loss became nan or inf at `step`: the message says what is known of why, the learning rate and, where
    the run knows it (`data`), that the inputs were finite, which points at the optimizer rather than the data."""

    def __init__(self, value, step, lr=None, data=None):
        super().__init__(value, step)
        self.value, self.step, self.lr, self.data = value, step, lr, data

    def __str__(self):
        said = f"the loss became {self.value} at step {self.step}"
        said += (
            f" with lr {self.lr:g} (train/loss is not finite)" if self.lr is not None else " (train/loss is not finite)"
        )
        if self.data:
            return (
                f"{said}; {self.data}, so training diverged: lower the learning rate or clip the gradients (grad_clip=)"
            )
        return f"{said}; lower the learning rate or check the data"


class OutOfMemory(TrainingError):
    """The device ran out of memory at a step: the message names the step, the batch size and the device's memory,
    and what lowers it."""

    def __init__(self, step, batch_size, device, memory):
        super().__init__(step, batch_size, device, memory)
        self.step, self.batch_size, self.device, self.memory = step, batch_size, device, memory

    def __str__(self):
        batch = f" with batch_size={self.batch_size}" if self.batch_size is not None else ""
        return (
            f"out of memory at step {self.step}{batch} on {self.device} ({self.memory}); lower batch_size= (with "
            f"grad_accumulation= to keep the batch the optimizer sees), or use precision=bf16 or a smaller model"
        )
