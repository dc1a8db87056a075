"""Records the runs tests/test_legacy.py reads: made once, with the code of commit d969fb7 (before the package
was split into rooms), so that the tests show runs recorded by earlier code still load, fork, reproduce and
resume. Run from an empty folder: python make_legacy.py; then copy mlflow.db and mlruns/ here."""

import os
import signal

from antelope import ml
from antelope.agents import AC2Agent

COMMON = dict(
    dataset="Digits",
    experiment="legacy",
    system_metrics=False,
    evaluate_per_steps=10,
    log_per_steps=10,
    save_per_steps=10,
    keep_checkpoints=1,
)

finished = ml(train_steps=20, **COMMON)
print("finished", finished.run_id)

learn = AC2Agent.learn


def learn_then_stop(self, replay, log=None):  # a SIGTERM at step 15: the run stops there with a checkpoint, KILLED
    self.steps = getattr(self, "steps", 0) + 1
    if self.steps == 15:
        os.kill(os.getpid(), signal.SIGTERM)
    return learn(self, replay, log) if log is not None else learn(self, replay)


AC2Agent.learn = learn_then_stop
try:
    ml(train_steps=30, **COMMON)
except KeyboardInterrupt as stopped:
    print("stopped", stopped)
