"""GAN: a generator and a discriminator on a dataset's images, in one file (Goodfellow et al. 2014).

    ml agent=GAN generate=true dataset=Digits train_steps=3000

`generate(n)` returns n samples shaped like the data; with generate=true antelope saves them as an
image grid in the run's artifacts at each evaluation. Both networks keep their own optimizers.
"""

from math import prod

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce


class GAN(nn.Module):
    def __init__(self, obs_spec, noise_dim=64, hidden=256, lr=2e-4):
        super().__init__()
        self.shape, self.noise_dim = obs_spec.shape, noise_dim
        self.low, self.high = obs_spec.low, obs_spec.high
        size = prod(obs_spec.shape)
        self.generator = nn.Sequential(
            nn.Linear(noise_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, size),
            nn.Sigmoid(),
        )
        self.discriminator = nn.Sequential(
            nn.Flatten(),
            nn.Linear(size, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )
        self.generator_optim = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999))
        self.discriminator_optim = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))

    def forward(self, noise):
        sample = self.low + (self.high - self.low) * self.generator(noise)  # in the data's range
        return sample.reshape(len(noise), *self.shape)  # (B, *obs_shape)

    def generate(self, n):
        return self(torch.randn(n, self.noise_dim, device=next(self.parameters()).device))

    def learn(self, replay, log):
        real = next(replay).obs
        fake = self.generate(len(real))

        real_logit, fake_logit = self.discriminator(real), self.discriminator(fake.detach())
        discriminator_loss = bce(real_logit, torch.ones_like(real_logit)) + bce(
            fake_logit, torch.zeros_like(fake_logit)
        )
        self.discriminator_optim.zero_grad()
        discriminator_loss.backward()
        self.discriminator_optim.step()

        fooled = self.discriminator(fake)
        generator_loss = bce(fooled, torch.ones_like(fooled))  # non-saturating: maximize log D(fake)
        self.generator_optim.zero_grad()
        generator_loss.backward()
        self.generator_optim.step()
        log(discriminator_loss=discriminator_loss, generator_loss=generator_loss)
