"""Classifier: a small CNN that trains itself in its own `learn`, in one file.

    ml agent=Classifier dataset=Digits

It keeps its own optimizer (`self.optim`), so antelope's optim=/lr= do not apply; `learn(replay, log)`
draws a batch, steps, and logs its loss and batch accuracy as train/loss and train/accuracy.
"""

import torch
from torch import nn
from torch.nn.functional import cross_entropy


class Classifier(nn.Module):
    def __init__(self, obs_spec, num_classes, channels=32, lr=1e-3):
        super().__init__()
        in_channels, height, width = obs_spec.shape
        self.register_buffer("mean", obs_spec.mean.reshape(-1, 1, 1))
        self.register_buffer("stddev", obs_spec.stddev.clamp(min=1e-3).reshape(-1, 1, 1))
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(channels * (height // 2) * (width // 2), 128),
            nn.ReLU(),
            nn.Linear(128, num_classes),
        )
        self.optim = torch.optim.Adam(self.parameters(), lr=lr)

    def forward(self, obs):
        return self.net((obs - self.mean) / self.stddev)  # (B, num_classes)

    def learn(self, replay, log):
        batch = next(replay)
        logits = self(batch.obs)
        loss = cross_entropy(logits, batch.label)
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        log(loss=loss, accuracy=(logits.argmax(1) == batch.label).float().mean())
