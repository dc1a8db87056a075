"""GAN: a generator and a discriminator on a dataset's images, in one file (Goodfellow et al. 2014), with the
stabilizers that make a small one cover the data rather than collapse onto a few shapes:
- the discriminator sees each batch's spread (the minibatch standard deviation, Karras et al. 2018), so a
  generator that makes one shape over and over is caught;
- two discriminator steps per generator step, at a high learning rate;
- samples come from an exponential moving average of the generator's weights (Yazici et al. 2019), torch's
  AveragedModel, which smooths the chase between the two networks.

    ml agent=GAN generate=true dataset=Digits train_steps=3000

`generate(n)` returns n samples shaped like the data; with generate=true antelope saves them as an
image grid in the run's artifacts at each evaluation and judges them (antelope.train.judge). Both networks
keep their own optimizers.
"""

from math import prod

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class MinibatchStd(nn.Module):
    """Appends the batch's mean standard deviation of features to each sample's features."""

    def forward(self, h):
        return torch.cat([h, h.std(0).mean().expand(len(h), 1)], 1)


class GAN(nn.Module):
    def __init__(self, obs_spec, noise_dim=64, hidden=256, lr=5e-3, discriminator_steps=2, average=0.99):
        super().__init__()
        self.shape, self.noise_dim, self.discriminator_steps = obs_spec.shape, noise_dim, discriminator_steps
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
            MinibatchStd(),
            nn.Linear(hidden + 1, 1),
        )
        self.average = AveragedModel(self.generator, multi_avg_fn=get_ema_multi_avg_fn(average)).requires_grad_(False)
        self.generator_optim = torch.optim.Adam(self.generator.parameters(), lr=lr, betas=(0.5, 0.999))
        self.discriminator_optim = torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=(0.5, 0.999))

    def forward(self, noise, generator=None):
        sample = self.low + (self.high - self.low) * (self.average if generator is None else generator)(
            noise
        )  # in the data's range
        return sample.reshape(len(noise), *self.shape)  # (B, *obs_shape)

    def generate(self, n, generator=None):
        return self(torch.randn(n, self.noise_dim, device=next(self.parameters()).device), generator)

    def learn(self, replay, log):
        for _ in range(self.discriminator_steps):
            real = next(replay).obs
            fake = self.generate(len(real), self.generator)
            real_logit, fake_logit = self.discriminator(real), self.discriminator(fake.detach())
            discriminator_loss = bce(real_logit, torch.ones_like(real_logit)) + bce(
                fake_logit, torch.zeros_like(fake_logit)
            )
            self.discriminator_optim.zero_grad()
            discriminator_loss.backward()
            self.discriminator_optim.step()

        fooled = self.discriminator(self.generate(len(real), self.generator))
        generator_loss = bce(fooled, torch.ones_like(fooled))  # non-saturating: maximize log D(fake)
        self.generator_optim.zero_grad()
        generator_loss.backward()
        self.generator_optim.step()
        self.average.update_parameters(self.generator)
        log(discriminator_loss=discriminator_loss, generator_loss=generator_loss)
