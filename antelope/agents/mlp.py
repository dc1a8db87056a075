"""The default model: inputs normalized with the data's statistics, a small MLP, and a `learn` that
returns its loss (cross-entropy for classification, MSE for regression), so the trainer optimizes it
and `optim=`, `scheduler=`, `lr=` and `lr_decay_epochs=` apply.

    ml                                   # this model on Digits
    ml model.hidden=512 model.depth=3    # constructor arguments from the console
"""

import itertools
from math import prod

from torch import nn
from torch.nn.functional import cross_entropy, mse_loss


class MLP(nn.Module):
    def __init__(self, spec, hidden=128, depth=2):
        super().__init__()
        channels = (-1,) + (1,) * (len(spec.obs.shape) - 1)  # per-channel statistics over (C, H, W)
        self.register_buffer("mean", spec.obs.mean.reshape(channels) if len(spec.obs.shape) > 1 else spec.obs.mean)
        stddev = spec.obs.stddev.clamp(min=1e-3)  # constant pixels have zero spread
        self.register_buffer("stddev", stddev.reshape(channels) if len(spec.obs.shape) > 1 else stddev)
        self.classification = spec.action.discrete
        sizes = [prod(spec.obs.shape)] + [hidden] * depth
        layers: list[nn.Module] = [nn.Flatten()]
        for size_in, size_out in itertools.pairwise(sizes):
            layers += [nn.Linear(size_in, size_out), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(sizes[-1], prod(spec.action.shape)))

    def forward(self, obs):
        return self.net((obs - self.mean) / self.stddev)  # (B, num_classes) or (B, target size)

    def learn(self, replay):
        batch = next(replay)
        output = self(batch.obs)
        if self.classification:
            return cross_entropy(output, batch.label)
        return mse_loss(output.reshape(batch.label.shape), batch.label)
