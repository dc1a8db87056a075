"""Which model a run keeps. Every evaluation's model is a logged model of the run (named by its step, its evaluation
metrics linked to it, so MLflow's `search_logged_models` ranks them); the newest `keep_checkpoints` and the best
stay, older ones are deleted with their files. At the end the run keeps the best (`keep_model=best`, by the task's
main metric and its direction) or the last (`keep_model=last`) as its model, `runs:/<id>/model`, which `antelope.load`,
`register=` and a sweep's `sweep.register` give; the trained module returned by `ml()` gets its weights back from
that step's checkpoint. A reinforcement-learning run plays the kept model once more on fresh episodes, seeded apart
from those it was chosen on, and records that too (`kept/return_fresh`): the best of noisy evaluations flatters."""

import contextlib
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Optional

import torch

from .. import tracking
from ..imports import qualified_name
from ..metrics import DIRECTIONS, METRICS
from ..train import checkpoint
from .task import Task

KEPT = "kept/"  # the run's record of its kept model's metrics: kept/accuracy, kept/return_fresh, ...
FRESH = KEPT + "return_fresh"  # RL: the kept model's return on fresh episodes


def kept_evaluation(metrics):
    """A finished run's Result.metrics read back from its recorded `metrics`: its kept model's evaluation
    (kept/<name> as eval/<name>; RL's fresh return as it is)."""
    return {(k if k == FRESH else "eval/" + k.removeprefix(KEPT)): v for k, v in metrics.items() if k.startswith(KEPT)}


@dataclass
class Keeper:
    tracked: Any  # the run's tracking.Run (or Untracked: then it keeps nothing)
    task: Task
    keep_model: str  # best | last
    keep: int  # keep_checkpoints: the newest evaluations' models kept besides the best
    params: dict  # the run's record, flattened: each logged model's params
    episodes: int = 0  # RL: episodes of the fresh evaluation
    models: list = field(default_factory=list)  # tracking.Logged, by step
    register: Optional[str] = None  # register the kept model under this name
    export: bool = True  # try pt2 (until the model has once failed to export)
    example: object = None  # (inputs, outputs) for the signature: see _example
    evaluated_here: bool = False  # whether this process evaluated (a run resumed at its end does not)
    example_made: bool = False  # the example is computed at the first evaluation (after some training)

    @property
    def metric(self):
        return METRICS[self.task.spec.task_name]

    @classmethod
    def open(cls, cfg, task, tracked, record, start, resumed):
        """The run's keeper; a resumed run's keeps its evaluated models up to the step it resumes at (those
        after it are evaluated again, so their models are deleted: no step is recorded twice)."""
        from ..config import overrides as lines

        keeper = cls(
            tracked,
            task,
            keep_model=cfg.keep_model,
            keep=cfg.keep_checkpoints,
            params=lines.flatten(record),
            episodes=cfg.evaluate_episodes,
            register=cfg.register,
        )
        if resumed is not None and tracked.run_id is not None:
            for logged in tracking.run_models(tracked.run_id, tracked.client):
                if logged.name == tracking.MODEL:
                    continue  # a run resumed at its end keeps the model it kept then, until it keeps another
                if logged.step > start:
                    tracking.delete_model(tracked, logged.model_id)
                else:
                    keeper.models.append(logged)
        return keeper

    def evaluated(self, step, metrics):
        """After the evaluation at `step`: its model logged, the metrics linked to it, the models no longer kept
        deleted."""
        if self.tracked.run_id is None:
            return
        self.evaluated_here = True
        model = self.task.model
        # The run's last evaluation, when it is the one kept, is logged as the run's model at once: no copy at the end
        final = step == self.task.steps and (self.keep_model == "last" or self._beats_the_best(metrics))
        name = tracking.MODEL if final else f"step_{step:09d}"
        tags = {**self._tags(), "antelope.keep_model": self.keep_model} if final else self._tags()
        with self._aside(model):
            if not self.example_made:
                self.example, self.example_made = _example(self.task), True
            logged, why = tracking.log_model(
                self.tracked, model, self.example, name, step, self.params, tags, self.export
            )
        if why is not None:
            print(f"ml: the model is saved as pickle, not pt2 ({why})", file=sys.stderr)
            self.export = False
        if logged is None:
            return
        self.tracked.link_model(step, logged.model_id, metrics)
        self.models.append(replace(logged, metrics=dict(metrics)))
        kept = {m.model_id for m in self.models[-self.keep :]} | {m.model_id for m in [self.best()] if m}
        for old in [m for m in self.models if m.model_id not in kept]:
            tracking.delete_model(self.tracked, old.model_id)
            self.models.remove(old)

    def _beats_the_best(self, metrics):
        """Whether an evaluation's `metrics` would be kept over the best so far (a tie keeps the later)."""
        best = self.best()
        if best is None or self.metric not in metrics:
            return best is None
        sign = -1.0 if DIRECTIONS.get(self.metric) == "minimize" else 1.0
        return sign * metrics[self.metric] >= sign * best.metrics[self.metric]

    def best(self):
        """The best evaluated model by the main metric (the later one on a tie), or None."""
        scored = [m for m in self.models if self.metric in m.metrics]
        if not scored:
            return None
        sign = -1.0 if DIRECTIONS.get(self.metric) == "minimize" else 1.0
        return max(reversed(scored), key=lambda m: sign * m.metrics[self.metric])

    @property
    def best_step(self):
        """The step whose checkpoint is kept beside the newest (keep_model=best), or None."""
        best = self.best() if self.keep_model == "best" else None
        return best.step if best is not None else None

    def finish(self, metrics):
        """At the end: the kept model becomes the run's model (registered under `register`) and the trained
        module's weights; returns its evaluation's metrics, with a fresh evaluation for RL. `metrics`: the last
        evaluation's."""
        if self.tracked.run_id is None or not self.evaluated_here:
            return metrics  # untracked; or resumed at its end: it kept its model then
        last = self.models[-1] if self.models and self.models[-1].step == self.task.steps else None
        kept = (self.best() if self.keep_model == "best" else None) or last
        if kept is None:  # the tracking server took none of its models: the trained one saved locally
            with self._aside(self.task.model):
                tracking.keep_model_locally(self.tracked, self.task.model, self.example, self._tags())
            return metrics
        if last is None or kept.step != last.step:
            self._restore(kept)
            said = f"; the last, at step {last.step}: {last.metrics[self.metric]:.4g}" if last else ""
            print(
                f"ml: keeps the model of step {kept.step} ({self.metric} {kept.metrics[self.metric]:.4g}{said})",
                file=sys.stderr,
            )
        result = dict(kept.metrics)
        if self.task.env is not None:
            fresh = self.task.env.evaluate(self.task.model, self.episodes, fresh=True)
            result[FRESH] = fresh["eval/return"]
        if kept.name != tracking.MODEL:  # an earlier evaluation's: copied as the run's model, its own deleted
            model = tracking.copy_model(self.tracked, kept, tracking.MODEL, {"antelope.keep_model": self.keep_model})
            if model is None:
                with self._aside(self.task.model):
                    tracking.keep_model_locally(self.tracked, self.task.model, self.example, self._tags())
                return result
            tracking.delete_model(self.tracked, kept.model_id)
        kept_metrics = {k if k.startswith(KEPT) else KEPT + k.removeprefix("eval/"): v for k, v in result.items()}
        self.tracked.log_metrics(kept_metrics, self.task.steps)
        kept_tags = {"antelope.kept_step": str(kept.step), "antelope.keep_model": self.keep_model}
        tracking.set_tags(self.tracked.run_id, kept_tags)
        if self.register:
            version = tracking.register_model(self.tracked.run_id, self.register)
            print(
                f"ml: its model is registered as {self.register} version {version} (models:/{self.register}/{version})",
                file=sys.stderr,
            )
        return result

    def _restore(self, kept):
        """The trained module gets the weights of the kept evaluation back: from its step's checkpoint, or when
        that cannot be read (a tracking server that did not take it) from its logged model, or, when neither can,
        it keeps the last step's and says so: the run's model is the kept one either way."""
        try:
            path = tracking.artifact_file(self.tracked.run_id, f"{checkpoint.FOLDER}/step_{kept.step:09d}.pt")
            self.task.model.load_state_dict(checkpoint.load(path, self.task.device)["model"])
            return
        except Exception as error:  # missing, unreadable, or the server unreachable
            why = f"{type(error).__name__}: {(str(error).splitlines() or [''])[0][:120]}"
        try:
            logged = tracking.load_model(f"models:/{kept.model_id}", device=self.task.device)
            self.task.model.load_state_dict(logged.state_dict())
        except Exception as error:
            print(
                f"ml: warning: the checkpoint of step {kept.step} ({why}) and its logged model "
                f"({type(error).__name__}) could not be read: the returned module has the last step's weights; the "
                f"run's model is step {kept.step}'s",
                file=sys.stderr,
            )

    def _tags(self):
        return {"antelope.model": qualified_name(self.task.model), "antelope.task": self.task.spec.task_name}

    @contextlib.contextmanager
    def _aside(self, model):
        """Saving a model mid-training leaves training as it was: in eval mode while saved, and the random
        stream untouched (its forward on the example, or tracing it, may draw)."""
        training = model.training
        model.eval()
        devices = [self.task.device] if self.task.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices):
                yield
        finally:
            model.train(training)


def _example(task):
    """(inputs, outputs) of the model on a few samples of its data, as numpy arrays: the logged model's
    signature and input example. None when its forward does not take them (a GAN's takes noise)."""
    obs = task.examples
    try:
        with torch.no_grad():
            output = task.model(obs)
    except Exception as error:  # the user's forward: any error means it takes something else
        print(
            f"ml: the model is logged without a signature: forward(obs) of the data raised {type(error).__name__}",
            file=sys.stderr,
        )
        return None
    if not isinstance(output, torch.Tensor):
        print(
            f"ml: the model is logged without a signature: forward(obs) returns a {type(output).__name__}, "
            f"not a tensor",
            file=sys.stderr,
        )
        return None
    return obs.float().contiguous().cpu().numpy(), output.float().cpu().numpy()
