"""AC2Agent, the default agent: one actor-critic backbone for every task antelope runs.

    ml                                               # classification on Digits
    ml dataset=diabetes.csv                          # regression (a float label column)
    ml env=CartPole-v1                               # RL, discrete actions: double Q-learning
    ml env=Pendulum-v1                               # RL, continuous actions: DDPG/DrQ-v2-style actor-critic
    ml generate=true                                 # generative: the actor generates, the critic discriminates
    ml model=my_cnn.py:CNN dataset=CIFAR10           # a model without learn() is wrapped by this agent

What it learns from follows `spec.task` and `spec.action.discrete`:
- supervised (datasets): encoder -> actor, trained with cross-entropy (classification) or MSE (regression).
- RL, discrete actions: encoder -> critic giving one Q-value per action; the actor is the argmax,
  epsilon-greedy while exploring; n-step double Q-learning against an EMA target critic.
- RL, continuous actions: encoder -> actor (tanh, scaled to the action range) and two critics Q(obs,
  action); the critics learn clipped double-Q targets, the actor ascends the smaller Q.
- generate: the actor maps noise to samples shaped like the data; the critic tells real from generated.

`learn` returns one loss, the sum of the parts, so the trainer's optimizer (`optim=`, `lr=`, `grad_clip=`,
`precision=`) applies (with generate=true its default Adam has a GAN's settings: config.schema.GENERATIVE_ADAM).
Each part reaches only its own network: the critic is frozen (requires_grad off) while the actor's loss is computed
through it, and the actor's output is detached in the critic's loss.
"""

import contextlib
import copy
import inspect
import itertools
from math import prod

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits, cross_entropy, mse_loss, smooth_l1_loss
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .gan import MinibatchStd

# constructor arguments that mean a user's model computes the whole output (it is the actor or critic head)
HEAD_ARGUMENTS = {"out_features", "out_channels", "out_shape", "output_shape", "num_classes", "action_spec", "spec"}


class AC2Agent(nn.Module):
    center: torch.Tensor  # buffers (register_buffer below), declared for the type checker
    scale: torch.Tensor
    steps: torch.Tensor

    def __init__(
        self,
        spec,
        hidden=256,
        depth=2,
        tau=0.01,
        epsilon=0.05,
        explore_steps=10_000,
        stddev=0.2,
        noise_dim=64,
        average=0.99,
        dropout=0.8,
        encoder=None,
        head=None,
    ):
        super().__init__()
        self.task, self.discrete = spec.task, spec.action.discrete
        self.classification = spec.task == "supervised" and spec.num_classes is not None
        self.tau, self.epsilon, self.explore_steps, self.stddev = tau, epsilon, explore_steps, stddev
        self.noise_dim, self.action_shape = noise_dim, spec.action.shape
        action_size = prod(spec.action.shape)
        # actions (and regression targets, generated samples) live in [low, high]: the actor's tanh or
        # raw output is mapped there around its center
        low, high = spec.action.low, spec.action.high
        self.register_buffer("center", torch.tensor((low + high) / 2 if low is not None else 0.0))
        self.register_buffer("scale", torch.tensor(max((high - low) / 2, 1e-3) if low is not None else 1.0))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))  # exploring acts so far
        self.encoder = encoder if encoder is not None else _encoder(spec.obs)
        features = _output_size(self.encoder, spec.obs.shape)

        if self.task == "generate":
            self.actor = _mlp(noise_dim, hidden, depth, action_size)  # noise -> sample
            # encoded sample -> real/fake logit, seeing the batch's spread: a generator that repeats itself is caught
            self.critic: nn.Module = nn.Sequential(MinibatchStd(), _mlp(features + 1, hidden, depth, 1))
            # samples in eval mode come from a moving average of the actor's weights, which smooths the chase
            self.average = AveragedModel(self.actor, multi_avg_fn=get_ema_multi_avg_fn(average)).requires_grad_(False)
        elif self.task == "supervised":
            # dropout: datasets are finite, and small tables are memorized in a few hundred steps without it
            self.actor = head if head is not None else _Wide(features, hidden, depth, action_size, dropout)
        elif self.discrete:
            self.critic = head if head is not None else _mlp(features, hidden, depth, action_size)  # Q per action
            self.target = copy.deepcopy(nn.ModuleDict({"encoder": self.encoder, "critic": self.critic}))
        else:
            self.actor = head if head is not None else _mlp(features, hidden, depth, action_size)
            self.critic = nn.ModuleList([_mlp(features + action_size, hidden, depth, 1) for _ in range(2)])
            self.target = copy.deepcopy(nn.ModuleDict({"encoder": self.encoder, "critic": self.critic}))
        self.own_head = head is not None  # a user's head sees raw observations, not our encoder's features
        if hasattr(self, "target"):
            self.target.requires_grad_(False)

    @classmethod
    def wrap(cls, model, spec, head=None):
        """The default agent around a user's model that has no `learn`: its output head when `head` says so, or
        when it is None and its constructor asks for an output size (out_features, action_spec, ...); else its
        encoder."""
        if head is None:
            head = bool(set(inspect.signature(type(model).__init__).parameters) & HEAD_ARGUMENTS)
        if head and spec.task != "generate":
            return cls(spec, head=model)
        return cls(spec, encoder=nn.Sequential(model, nn.Flatten()))

    def forward(self, obs):
        """Predictions (supervised), Q-values (discrete RL), actions (continuous RL) or samples from noise
        (generate)."""
        if self.task == "generate":
            return self._generate(obs)
        if self.task == "rl" and self.discrete:
            return self.critic(obs if self.own_head else self.encoder(obs))  # (B, actions)
        output = self.actor(obs) if self.own_head else self.actor(self.encoder(obs))
        if self.task == "supervised":
            if self.classification or self.own_head:
                return output  # (B, classes) logits, or the user's own outputs
            return self.center + self.scale * output.reshape(len(obs), *self.action_shape)  # regression targets
        return self.center + self.scale * torch.tanh(output).reshape(len(obs), *self.action_shape)  # (B, *action)

    @torch.no_grad()
    def act(self, obs):
        """What the agent does: explores in train mode (epsilon-greedy, or Gaussian noise), greedy in eval mode."""
        if self.task != "rl":
            return self(obs)
        exploring = self.training
        if exploring:
            self.steps += len(obs)  # one act per env: a vector of envs acts once for all of them
        output = self(obs)
        if self.discrete:
            action = output.argmax(1)  # (B,)
            if exploring:  # epsilon decays linearly from 1 to self.epsilon over explore_steps acts
                epsilon = max(self.epsilon, 1 - (1 - self.epsilon) * self.steps.item() / self.explore_steps)
                random = torch.randint_like(action, output.shape[1])
                action = torch.where(torch.rand(len(action), device=obs.device) < epsilon, random, action)
            return action
        if exploring:
            output = output + self.stddev * self.scale * torch.randn_like(output)
        return torch.maximum(torch.minimum(output, self.center + self.scale), self.center - self.scale)

    def generate(self, n):
        """n samples shaped like the data (generate=true)."""
        return self._generate(torch.randn(n, self.noise_dim, device=self.center.device))

    def _generate(self, noise):
        actor = self.actor if self.training else self.average
        samples = self.center + self.scale * torch.tanh(actor(noise))
        return samples.reshape(len(noise), *self.action_shape)

    def learn(self, replay, log):
        batch = next(replay)
        if self.task == "supervised":
            return self._learn_supervised(batch, log)
        if self.task == "generate":
            return self._learn_generative(batch, log)
        self._update_target()
        if self.discrete:
            return self._learn_discrete(batch, log)
        return self._learn_continuous(batch, log)

    def _learn_supervised(self, batch, log):
        output = self(batch.obs)
        if self.classification:
            loss = cross_entropy(output, batch.label)
            log.accuracy = (output.argmax(1) == batch.label).float().mean()
            return loss
        return mse_loss(output.reshape(batch.label.shape), batch.label)

    def _learn_discrete(self, batch, log):
        with torch.no_grad():  # double Q-learning: the online critic picks the next action, the target values it
            next_action = self(batch.next_obs).argmax(1, keepdim=True)
            next_q = self._target_critic(batch.next_obs).gather(1, next_action).squeeze(1)
            target = batch.reward + batch.discount * (1 - batch.done) * next_q
        q = self(batch.obs).gather(1, batch.action.long().reshape(-1, 1)).squeeze(1)
        log.q = q.mean()
        return smooth_l1_loss(q, target)

    def _learn_continuous(self, batch, log):
        obs = self.encoder(batch.obs)
        with torch.no_grad():  # clipped double-Q targets, with smoothed target actions (TD3)
            next_obs = self.encoder(batch.next_obs)
            next_action = self._actor(batch.next_obs, next_obs)
            noise = (self.stddev * self.scale * torch.randn_like(next_action)).clamp(
                -0.5 * self.scale, 0.5 * self.scale
            )
            next_action = (next_action + noise).clamp(self.center - self.scale, self.center + self.scale)
            next_q = torch.min(*self._q(self.target["critic"], self.target["encoder"](batch.next_obs), next_action))
            target = batch.reward + batch.discount * (1 - batch.done) * next_q
        q1, q2 = self._q(self.critic, obs, batch.action)
        critic_loss = mse_loss(q1, target) + mse_loss(q2, target)
        with _frozen(self.critic):  # the actor's loss moves the actor only
            actor_loss = -torch.min(*self._q(self.critic, obs.detach(), self._actor(batch.obs, obs.detach()))).mean()
        log(critic_loss=critic_loss, actor_loss=actor_loss, q=q1.mean())
        return critic_loss + actor_loss

    def _learn_generative(self, batch, log):
        self.average.update_parameters(self.actor)  # the weights the last optimizer step left
        real = batch.obs
        fake = self.generate(len(real))
        real_logit, fake_logit = self.critic(self.encoder(real)), self.critic(self.encoder(fake.detach()))
        critic_loss = binary_cross_entropy_with_logits(
            real_logit, torch.ones_like(real_logit)
        ) + binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
        with _frozen(self.critic), _frozen(self.encoder):  # the generator's loss moves the generator only
            fooled = self.critic(self.encoder(fake))
            actor_loss = binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))  # non-saturating
        log(critic_loss=critic_loss, actor_loss=actor_loss)
        return critic_loss + actor_loss

    def _actor(self, obs, features):
        """Continuous actions in the action range (a user's head sees raw observations, ours the features)."""
        output = self.actor(obs if self.own_head else features).reshape(len(obs), *self.action_shape)
        return self.center + self.scale * torch.tanh(output)

    def _q(self, critics, features, action):
        joined = torch.cat([features, action.flatten(1)], 1)
        return [critic(joined).squeeze(1) for critic in critics]

    def _target_critic(self, obs):
        return self.target["critic"](obs if self.own_head else self.target["encoder"](obs))

    @torch.no_grad()
    def _update_target(self):
        """The target networks trail the online ones: an exponential moving average with rate tau."""
        online = list(self.encoder.parameters()) + list(self.critic.parameters())
        for target, param in zip(self.target.parameters(), online, strict=True):
            target.lerp_(param, self.tau)


def _encoder(obs_spec):
    """Observations normalized with the data's statistics; images of 32 pixels and more through a small CNN:
    DrQ-v2's up to 63 pixels (CIFAR), the Nature-DQN encoder from 64 (Atari's 84x84 frames: 3,136 features,
    where DrQ-v2's stride-1 layers would give 39,200 and a learning step ten times as slow)."""
    normalize = _Normalize(obs_spec)
    channels = obs_spec.shape[0]
    if len(obs_spec.shape) == 3 and min(obs_spec.shape[1:]) >= 64:
        return nn.Sequential(
            normalize,
            nn.Conv2d(channels, 32, 8, stride=4),
            nn.ReLU(),
            nn.Conv2d(32, 64, 4, stride=2),
            nn.ReLU(),
            nn.Conv2d(64, 64, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
    if len(obs_spec.shape) == 3 and min(obs_spec.shape[1:]) >= 32:
        return nn.Sequential(
            normalize,
            nn.Conv2d(channels, 32, 3, stride=2),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=1),
            nn.ReLU(),
            nn.Flatten(),
        )
    return nn.Sequential(normalize, nn.Flatten())


class _Normalize(nn.Module):
    def __init__(self, obs_spec):
        super().__init__()
        per_channel = (-1,) + (1,) * (len(obs_spec.shape) - 1)  # (C, 1, 1) for images, (F,) for vectors
        mean = obs_spec.mean if obs_spec.mean is not None else torch.zeros(())
        stddev = obs_spec.stddev.clamp(min=1e-3) if obs_spec.stddev is not None else torch.ones(())
        self.register_buffer("mean", mean.reshape(per_channel) if mean.dim() else mean)
        self.register_buffer("stddev", stddev.reshape(per_channel) if stddev.dim() else stddev)

    def forward(self, obs):
        return (obs - self.mean) / self.stddev


class _Wide(nn.Module):
    """An MLP beside a linear map (wide & deep): the linear part alone already fits what is linear in the data."""

    def __init__(self, size_in, hidden, depth, size_out, dropout):
        super().__init__()
        self.linear, self.mlp = nn.Linear(size_in, size_out), _mlp(size_in, hidden, depth, size_out, dropout)

    def forward(self, features):
        return self.linear(features) + self.mlp(features)


def _mlp(size_in, hidden, depth, size_out, dropout=0.0):
    sizes = [size_in] + [hidden] * depth
    layers = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), nn.ReLU()] + ([nn.Dropout(dropout)] if dropout else [])
    return nn.Sequential(*layers, nn.Linear(sizes[-1], size_out))


@torch.no_grad()
def _output_size(encoder, obs_shape):
    return encoder(torch.zeros(2, *obs_shape)).flatten(1).shape[1]


@contextlib.contextmanager
def _frozen(module):
    """Parameters used but not trained: no gradient reaches them from what is computed inside."""
    flags = [p.requires_grad for p in module.parameters()]
    module.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)
