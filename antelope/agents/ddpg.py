"""DDPG (DrQ-v2 style): a deterministic actor and twin critics for continuous control, in one file.

    ml agent=DDPG env=Pendulum-v1 train_steps=20000

The actor outputs tanh actions scaled to the action range, explores with Gaussian noise in train mode,
and climbs the critics' value; the critics learn clipped double-Q targets from a trailing copy.
Actor and critic keep their own optimizers, so `learn` optimizes itself and returns nothing.
"""

import copy
from math import prod

import torch
from torch import nn
from torch.nn.functional import mse_loss


def mlp(size_in, size_out, hidden):
    return nn.Sequential(
        nn.Linear(size_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, size_out)
    )


class DDPG(nn.Module):
    def __init__(self, obs_spec, action_spec, hidden=256, lr=1e-3, tau=0.01, stddev=0.2):
        super().__init__()
        if action_spec.discrete:
            raise ValueError("DDPG needs continuous actions: use a continuous env, or discrete=false")
        obs_size, self.action_size = prod(obs_spec.shape), prod(action_spec.shape)
        self.center = (action_spec.high + action_spec.low) / 2
        self.scale = (action_spec.high - action_spec.low) / 2
        self.actor = mlp(obs_size, self.action_size, hidden)
        self.critics = nn.ModuleList([mlp(obs_size + self.action_size, 1, hidden) for _ in range(2)])
        self.target = copy.deepcopy(self.critics).requires_grad_(False)
        self.actor_optim = torch.optim.Adam(self.actor.parameters(), lr=lr)
        self.critic_optim = torch.optim.Adam(self.critics.parameters(), lr=lr)
        self.tau, self.stddev = tau, stddev

    def forward(self, obs):
        return self.center + self.scale * torch.tanh(self.actor(obs.flatten(1)))  # (B, action_size)

    @torch.no_grad()
    def act(self, obs):
        action = self(obs)
        if self.training:
            action = action + self.stddev * self.scale * torch.randn_like(action)
        return action.clamp(self.center - self.scale, self.center + self.scale)

    def value(self, critics, obs, action):
        joined = torch.cat([obs.flatten(1), action.flatten(1)], 1)
        return torch.min(*[critic(joined).squeeze(1) for critic in critics])  # the smaller of two: less optimism

    def learn(self, replay, log):
        batch = next(replay)
        with torch.no_grad():
            next_action = self.act(batch.next_obs)  # with noise: smoothed target actions (TD3)
            target = batch.reward + batch.discount * (1 - batch.done) * self.value(
                self.target, batch.next_obs, next_action
            )
        joined = torch.cat([batch.obs.flatten(1), batch.action.flatten(1)], 1)
        critic_loss = torch.stack([mse_loss(critic(joined).squeeze(1), target) for critic in self.critics]).sum()
        self.critic_optim.zero_grad()
        critic_loss.backward()
        self.critic_optim.step()

        actor_loss = -self.value(self.critics, batch.obs, self(batch.obs)).mean()
        self.actor_optim.zero_grad()
        actor_loss.backward()  # reaches the critics' parameters too, but only the actor's optimizer steps
        self.actor_optim.step()

        with torch.no_grad():
            for target_param, param in zip(self.target.parameters(), self.critics.parameters(), strict=True):
                target_param.lerp_(param, self.tau)
        log(critic_loss=critic_loss, actor_loss=actor_loss)
