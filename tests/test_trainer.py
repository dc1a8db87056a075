"""antelope.train.trainer on its own: the loop over plain values and objects (no config, no MLflow run)."""

import os
import signal

import pytest
import torch
from torch import nn
from torch.nn.functional import cross_entropy

from antelope.data.replay import Replay
from antelope.errors import ConfigError, Stop, TakenOver, TrainingError
from antelope.train.interrupts import Interrupted
from antelope.train.log import Log
from antelope.train.trainer import Schedule, train
from antelope.train.update import Update


class Linear(nn.Module):
    """learn(replay) returns a loss; `calls` counts them; `at` maps a call number to something to do then."""

    def __init__(self, at=None):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Linear(2, 3)
        self.calls, self.at = 0, at or {}

    def forward(self, x):
        return self.net(x)

    def learn(self, replay):
        self.calls += 1
        self.at.get(self.calls, lambda: None)()
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)


def replay():
    generator = torch.Generator().manual_seed(0)
    obs = torch.randn(40, 2, generator=generator)
    return Replay(obs, (obs[:, 0] > 0).long(), 8, torch.device("cpu"), seed=0)


def update(model, **kwargs):
    return Update(torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def nothing(step):
    return {}


class Sink:
    """A log sink keeping every write: [(step, metrics, flush)]."""

    def __init__(self):
        self.writes = []

    def __call__(self, metrics, step, flush):
        self.writes.append((step, dict(metrics), flush))

    def steps(self, name):
        return [step for step, metrics, _ in self.writes if name in metrics]


def test_metrics_leave_through_the_log_at_its_steps_and_evaluations_at_theirs():
    model, sink, evaluated = Linear(), Sink(), []

    def evaluation(step):
        evaluated.append(step)
        return {"eval/score": float(step)}

    metrics = train(
        model,
        replay(),
        Log([sink]),
        update=update(model),
        schedule=Schedule(10, evaluation, log_every=3, evaluate_every=5),
    )
    assert evaluated == [5, 10] and metrics == {"eval/score": 10.0}
    assert sink.steps("train/loss") == [3, 5, 6, 9, 10]  # every log_every steps and at every evaluation
    assert sink.steps("train/lr") == sink.steps("train/epoch") == [3, 5, 6, 9, 10]
    # an evaluation's metrics go with that step's train metrics, in one write sent on at once
    assert [(step, flush) for step, metrics, flush in sink.writes if "eval/score" in metrics] == [(5, True), (10, True)]
    assert [flush for step, metrics, flush in sink.writes] == [False, True, False, False, True]
    assert model.calls == 10


def test_a_model_that_optimizes_itself_has_an_update_without_optimizer_and_no_lr():
    model, sink = Linear(), Sink()
    train(model, replay(), Log([sink]), update=Update(), schedule=Schedule(4, nothing, log_every=2))
    assert sink.steps("train/loss") == [2, 4] and sink.steps("train/lr") == []
    assert Update().state_dict() is None


def test_checkpoints_every_save_steps_at_the_end_and_resume_from_a_step():
    model, saved, sink = Linear(), [], Sink()
    metrics = train(
        model,
        replay(),
        Log([sink]),
        update=update(model),
        schedule=Schedule(
            10,
            lambda step: {"eval/x": 1.0},
            start=5,
            log_every=5,
            evaluate_every=0,
            save_every=4,
            save=lambda step, metrics: saved.append((step, dict(metrics))),
        ),
    )
    assert saved == [(8, {}), (10, {"eval/x": 1.0})]  # from step 6 on: the run resumed at 5
    assert model.calls == 5 and sink.steps("train/loss") == [10] and metrics == {"eval/x": 1.0}
    assert train(model, replay(), Log(), update=update(model), schedule=Schedule(10, nothing, start=10)) == {}


def test_a_sink_that_raises_at_an_evaluation_ends_training_with_its_exception_and_no_checkpoint_of_that_step():
    model, saved, flushed = Linear(), [], []

    def pruner(metrics, step, flush):
        if flush:
            flushed.append(step)
            if len(flushed) == 2:
                raise Stop("pruned")

    with pytest.raises(Stop, match="pruned"):
        train(
            model,
            replay(),
            Log([pruner]),
            update=update(model),
            schedule=Schedule(
                20, nothing, evaluate_every=4, save_every=8, save=lambda step, metrics: saved.append(step)
            ),
        )
    assert flushed == [4, 8] and model.calls == 8 and saved == [4]  # the first evaluation's checkpoint only


def test_save_may_end_training_before_its_checkpoint():
    model, saved = Linear(), []

    def save(step, metrics):
        if step == 6:
            raise TakenOver("another worker runs it now")
        saved.append(step)

    with pytest.raises(TakenOver):
        train(model, replay(), Log(), update=update(model), schedule=Schedule(10, nothing, save_every=3, save=save))
    assert saved == [3] and model.calls == 6


def test_a_signal_finishes_the_step_saves_a_checkpoint_and_stops():
    model, saved = Linear(at={3: lambda: os.kill(os.getpid(), signal.SIGINT)}), []
    with pytest.raises(Interrupted, match="stopped at step 3; a checkpoint was saved"):
        train(
            model,
            replay(),
            Log(),
            update=update(model),
            schedule=Schedule(10, nothing, save=lambda step, metrics: saved.append(step)),
        )
    assert saved == [3] and model.calls == 3


def test_accumulation_calls_learn_several_times_per_step_and_collect_comes_first():
    model, order = Linear(), []
    model.at = {n: (lambda n=n: order.append(("learn", n))) for n in range(1, 7)}
    train(
        model,
        replay(),
        Log(),
        update=update(model, accumulation=2),
        schedule=Schedule(3, nothing, collect=lambda step, log: order.append(("collect", step))),
    )
    assert order == [
        ("collect", 1),
        ("learn", 1),
        ("learn", 2),
        ("collect", 2),
        ("learn", 3),
        ("learn", 4),
        ("collect", 3),
        ("learn", 5),
        ("learn", 6),
    ]


def test_learn_every_calls_learn_and_steps_the_optimizer_on_every_nth_step_after_collecting_each():
    model, order = Linear(), []
    model.at = {n: (lambda n=n: order.append(("learn", n))) for n in range(1, 4)}
    steps = update(model)
    step = steps.step
    steps.step = lambda epoch: order.append("optimizer step") or step(epoch)
    train(
        model,
        replay(),
        Log(),
        update=steps,
        schedule=Schedule(7, nothing, learn_every=3, collect=lambda step, log: order.append(("collect", step))),
    )
    assert order == [
        ("collect", 1),
        ("collect", 2),
        ("collect", 3),
        ("learn", 1),
        "optimizer step",
        ("collect", 4),
        ("collect", 5),
        ("collect", 6),
        ("learn", 2),
        "optimizer step",
        ("collect", 7),
    ]


def test_a_non_finite_loss_names_its_step_when_learning_every_nth_step():
    class Diverges(Linear):
        def learn(self, replay):
            loss = super().learn(replay)
            return loss * float("nan") if self.calls >= 3 else loss

    # learning on steps 4, 8, 12: the third call is step 12
    with pytest.raises(TrainingError, match="the loss became nan at step 12"):
        train(Diverges(), replay(), Log(), update=Update(), schedule=Schedule(20, nothing, log_every=10, learn_every=4))


def test_a_non_finite_loss_names_its_step_and_a_non_scalar_loss_is_bad_input():
    class Diverges(Linear):
        def learn(self, replay):
            loss = super().learn(replay)
            return loss * float("nan") if self.calls >= 7 else loss

    with pytest.raises(TrainingError, match="the loss became nan at step 7"):
        train(Diverges(), replay(), Log(), update=Update(), schedule=Schedule(20, nothing, log_every=10))

    class Vector(Linear):
        def learn(self, replay):
            batch = next(replay)
            return cross_entropy(self(batch.obs), batch.label, reduction="none")

    with pytest.raises(
        ConfigError,
        match=r"Vector.learn must return a scalar loss tensor or None; it returned a "
        r"tensor of shape \(8,\)",
    ):
        train(Vector(), replay(), Log(), update=Update(), schedule=Schedule(2, nothing))


def test_learn_with_a_log_writes_its_own_metrics_averaged_over_the_log_steps():
    class Logs(Linear):
        def learn(self, replay, log):
            log.calls = self.calls + 1
            return super().learn(replay)

    sink = Sink()
    train(Logs(), replay(), Log([sink]), update=Update(), schedule=Schedule(4, nothing, log_every=2))
    assert [metrics["train/calls"] for _, metrics, _ in sink.writes if "train/calls" in metrics] == [1.5, 3.5]


def test_bf16_runs_learn_under_autocast_for_a_model_with_or_without_the_trainer_s_optimizer():
    seen = []

    class Probe(Linear):
        def learn(self, replay):
            seen.append(torch.is_autocast_enabled("cpu"))
            return super().learn(replay)

    model = Probe()
    train(model, replay(), Log(), update=update(model, precision="bf16"), schedule=Schedule(2, nothing))
    train(model, replay(), Log(), update=update(model), schedule=Schedule(1, nothing))
    train(model, replay(), Log(), update=Update(precision="bf16"), schedule=Schedule(1, nothing))
    assert seen == [True, True, False, True]
