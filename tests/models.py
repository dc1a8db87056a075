"""Models the tests train: the seed page's three examples, and a few that break the rules."""

from math import prod

import torch
from torch import nn
from torch.nn.functional import cross_entropy


class Model(nn.Module):
    """Custom learning: learn(replay) returns the loss; the trainer optimizes."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.MLP = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 32), nn.Linear(32, out_features))

    def forward(self, x):
        return self.MLP(x)

    def learn(self, replay):
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)


class SelfOptimizing(nn.Module):
    """Advanced learning: learn(replay, log) optimizes itself and returns nothing."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.MLP = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 32), nn.Linear(32, out_features))
        self.optim = torch.optim.Adam(self.MLP.parameters(), lr=1e-2)
        self.steps = 0

    def forward(self, x):
        return self.MLP(x)

    def learn(self, replay, log):
        self.optim.zero_grad()
        batch = next(replay)
        loss = cross_entropy(self(batch.obs), batch.label)
        loss.backward()
        self.optim.step()
        self.steps += 1
        log.loss = loss


class SpecModel(SelfOptimizing):
    """Ultra-advanced learning: sizes from spec."""

    def __init__(self, spec):
        nn.Module.__init__(self)
        self.spec = spec
        self.MLP = nn.Sequential(
            nn.Flatten(), nn.Linear(prod(spec.obs.shape), 32), nn.Linear(32, prod(spec.action.shape))
        )
        self.optim = torch.optim.Adam(self.MLP.parameters(), lr=1e-2)
        self.steps = 0


class OwnScheduler(SelfOptimizing):
    """The README's Advanced example with two param groups and a cosine schedule of its own."""

    def __init__(self, in_features, out_features):
        super().__init__(in_features, out_features)
        first, last = self.MLP[1], self.MLP[2]
        self.optim = torch.optim.SGD(
            [{"params": first.parameters()}, {"params": last.parameters(), "lr": 0.02}], lr=1e-4, momentum=0.9
        )
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.optim, T_max=50, eta_min=1e-6)

    def learn(self, replay, log):
        super().learn(replay, log)
        self.schedule.step()


class Deep(Model):
    """Takes a user constructor argument (model.depth=...)."""

    def __init__(self, in_features, num_classes, depth, width=16):
        nn.Module.__init__(self)
        layers = [nn.Flatten(), nn.Linear(in_features, width)]
        for _ in range(depth - 1):
            layers += [nn.ReLU(), nn.Linear(width, width)]
        self.MLP = nn.Sequential(*layers, nn.Linear(width, num_classes))
        self.depth, self.width = depth, width


class NoLearn(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, x):
        return self.linear(x.flatten(1))


class VectorLoss(Model):
    def learn(self, replay):
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label, reduction="none")


class Crashes(Model):
    def learn(self, replay):
        raise RuntimeError("boom in learn")


class Slow(Model):
    """Takes a few milliseconds a step, so a test can signal it mid-run."""

    def learn(self, replay):
        import time

        time.sleep(0.004)
        return super().learn(replay)


class Sleepy(Model):
    """Sleeps 50 ms a step: a run that lasts seconds and takes little CPU."""

    def learn(self, replay):
        import time

        time.sleep(0.05)
        return super().learn(replay)


class SignalsItself(Model):
    """Sends itself SIGINT at step `at` of its first run, as Ctrl-C would."""

    at, calls, fired = 35, 0, False

    def learn(self, replay):
        import os
        import signal

        SignalsItself.calls += 1
        if SignalsItself.calls == SignalsItself.at and not SignalsItself.fired:
            SignalsItself.fired = True
            os.kill(os.getpid(), signal.SIGINT)
        return super().learn(replay)


class SignalsOnRankOne(Model):
    """Under torchrun, the process of rank 1 alone sends itself SIGTERM at its step `at`."""

    at, calls = 35, 0

    def learn(self, replay):
        import os
        import signal

        SignalsOnRankOne.calls += 1
        if SignalsOnRankOne.calls == SignalsOnRankOne.at and os.environ.get("RANK") == "1":
            os.kill(os.getpid(), signal.SIGTERM)
        return super().learn(replay)


class Wider(Model):
    """The same constructor as Model, other shapes: its checkpoint does not fit Model."""

    def __init__(self, in_features, out_features):
        nn.Module.__init__(self)
        self.MLP = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 48), nn.Linear(48, out_features))


class Diverges(Model):
    """Its loss turns into nan at step 23."""

    calls = 0

    def learn(self, replay):
        Diverges.calls += 1
        loss = super().learn(replay)
        return loss * float("nan") if Diverges.calls >= 23 else loss


class SevenLogits(Model):
    """Outputs 7 logits for a 10-class dataset."""

    def __init__(self, in_features):
        nn.Module.__init__(self)
        self.MLP = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 7))

    def learn(self, replay):
        batch = next(replay)
        return self(batch.obs).logsumexp(1).mean()


class NotAModule:
    """A plain class: not a model."""

    def learn(self, replay):
        return None


class SlowDQN(__import__("antelope.agents", fromlist=["DQN"]).DQN):
    """The DQN example, 4 ms slower a step: an RL run long enough to be stopped mid-run."""

    def learn(self, replay, log):
        import time

        time.sleep(0.004)
        return super().learn(replay, log)


class Poison(Model):
    """With poison=1, kills its own process (SIGKILL, as the OOM killer does) at its 3rd step, every time it is
    run: a config that takes its worker down whenever a worker takes it."""

    def __init__(self, in_features, out_features, poison=0):
        super().__init__(in_features, out_features)
        self.poison, self.calls = poison, 0

    def learn(self, replay):
        import os
        import signal

        self.calls += 1
        if self.poison and self.calls == 3:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().learn(replay)


class RunsOutOfMemory(Model):
    """Raises the device's out-of-memory error at its 3rd step when it is wider than 100 (model.width), as a too
    large model or batch does on a GPU."""

    def __init__(self, in_features, out_features, width=32):
        super().__init__(in_features, out_features)
        self.width, self.calls = width, 0

    def learn(self, replay):
        self.calls += 1
        if self.calls == 3 and self.width > 100:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super().learn(replay)
