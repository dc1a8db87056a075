"""The one error type for bad input: a wrong key, value, name, path or model signature."""


class ConfigError(ValueError):
    """Bad input from the user. Its message is one line naming the bad value and what would be valid.

    The console prints it without a traceback and exits with status 2.
    """


class Stop(Exception):
    """Ends a run early on purpose (a sweep trial's `stop(step)` returns one and the trainer raises it): the run
    ends KILLED, not FAILED. A pruned sweep trial is the example."""


class TakenOver(Stop):
    """A sweep trial this process was running was taken over by another worker (this one's heartbeat had
    lapsed, say the process was paused): the run is left as it is, to the worker that continues it."""


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss): the run ends FAILED and the console prints one line."""
