"""Update: the trainer's optimizer step (accumulation, clipping, the fp16 scaler, the scheduler's pace, state)."""

import pytest
import torch

from antelope.train.update import Update


def weight(*values):
    return torch.nn.Parameter(torch.tensor(values))


def sgd(w, lr=1.0):
    return torch.optim.SGD([w], lr=lr)


def test_backward_divides_the_loss_over_the_accumulated_calls():
    w = weight(0.0, 0.0)
    update = Update(sgd(w), accumulation=4)
    for _ in range(4):
        update.backward((w * torch.tensor([1.0, 2.0])).sum())
    assert w.grad.tolist() == [1.0, 2.0]  # the mean over the 4 calls, not their sum


def test_step_steps_the_optimizer_and_zeros_the_gradients():
    w = weight(1.0, 1.0)
    update = Update(sgd(w, lr=0.5))
    update.backward((w * torch.tensor([2.0, -4.0])).sum())
    update.step(0)
    assert w.tolist() == [0.0, 3.0] and w.grad is None


def test_clip_clips_the_gradient_norm_before_the_step():
    w = weight(0.0, 0.0)
    update = Update(sgd(w), clip=1.0)
    update.backward((w * torch.tensor([3.0, 4.0])).sum())  # gradient norm 5
    update.step(0)
    assert torch.allclose(w.detach(), -torch.tensor([0.6, 0.8]))  # lr 1: the change is the clipped gradient


def test_fp16_scales_the_loss_and_an_inf_gradient_skips_the_step():
    w = weight(0.0, 0.0)
    update = Update(sgd(w), precision="fp16", clip=10.0)
    assert update.scaler.is_enabled() and not Update(sgd(weight(0.0))).scaler.is_enabled()
    scale = update.scaler.get_scale()
    update.backward((w * torch.tensor([1.0, 2.0])).sum())
    assert w.grad.tolist() == [scale, 2 * scale]
    update.step(0)
    assert w.tolist() == [-1.0, -2.0]  # unscaled before the step
    update.backward((w * torch.tensor([float("inf"), 2.0])).sum())
    update.step(0)
    assert w.tolist() == [-1.0, -2.0] and update.scaler.get_scale() == scale / 2  # skipped, scale backed off
    assert w.grad is None


@pytest.mark.parametrize(
    "per_step, epochs, steps",
    [
        (False, [0, 0, 1, 1, 3], [0, 0, 1, 0, 2]),  # once per completed epoch
        (True, [0, 0, 1, 1, 3], [1, 1, 1, 1, 1]),  # once per step
    ],
)
def test_the_scheduler_steps_per_completed_epoch_or_per_step(per_step, epochs, steps):
    w = weight(0.0)
    optimizer = sgd(w)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    update = Update(optimizer, scheduler, per_step=per_step)
    taken = []
    for epoch in epochs:
        before = scheduler.last_epoch
        update.backward(w.sum())
        update.step(epoch)
        taken.append(scheduler.last_epoch - before)
    assert taken == steps
    assert update.lr == 0.5 ** sum(steps) and update.epoch == 3


def test_state_dict_restores_the_optimizer_scaler_scheduler_and_epoch():
    def made():
        w = weight(1.0, 2.0)
        optimizer = torch.optim.Adam([w], lr=0.1)
        return w, Update(
            optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5), precision="fp16"
        )

    w, update = made()
    for epoch in (0, 1, 2):
        update.backward((w**2).sum())
        update.step(epoch)
    update.backward((w * float("inf")).sum())
    update.step(2)  # skipped: the scale backs off
    state = update.state_dict()

    _, restored = made()
    restored.load_state_dict(state)
    assert restored.epoch == 2 and restored.lr == update.lr == 0.025
    assert restored.scaler.get_scale() == update.scaler.get_scale() == 32768.0
    assert restored.scheduler.last_epoch == 2
    saved, loaded = update.optimizer.state_dict(), restored.optimizer.state_dict()
    assert loaded["state"][0]["step"] == saved["state"][0]["step"] == 3
    assert torch.equal(loaded["state"][0]["exp_avg"], saved["state"][0]["exp_avg"])


def test_of_builds_the_trainers_optimizer_unless_the_model_optimizes_itself():
    from antelope.errors import ConfigError

    model = torch.nn.Linear(2, 1)
    built = Update.of(
        model,
        lambda parameters: torch.optim.SGD(parameters, lr=0.1),
        lambda optimizer: torch.optim.lr_scheduler.StepLR(optimizer, 1),
        accumulation=2,
        precision="bf16",
    )
    assert isinstance(built.optimizer, torch.optim.SGD) and isinstance(built.scheduler, torch.optim.lr_scheduler.StepLR)
    assert (built.accumulation, built.precision, built.lr) == (2, "bf16", 0.1)

    class OwnOptimizer(torch.nn.Linear):
        def __init__(self):
            super().__init__(2, 1)
            self.optim = torch.optim.SGD(self.parameters(), lr=0.1)

    def never(parameters):
        raise AssertionError("a model that optimizes itself gets no optimizer of the trainer's")

    own = Update.of(OwnOptimizer(), never, accumulation=3, precision="bf16")
    assert own.optimizer is None and (own.accumulation, own.precision, own.lr) == (3, "bf16", None)
    frozen = torch.nn.Linear(2, 1).requires_grad_(False)
    with pytest.raises(ConfigError, match="model Linear has no trainable parameters for optim= to optimize"):
        Update.of(frozen, never)
    with pytest.raises(ConfigError, match="OwnOptimizer steps its own optimizer, so its gradients cannot be averaged"):
        Update.of(OwnOptimizer(), never, group=object())
