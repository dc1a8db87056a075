"""DQN: deep Q-learning for discrete actions, in one file (Mnih et al. 2015, with a double-Q target).

    ml agent=DQN env=CartPole-v1 train_steps=50000

The replay gives transitions (obs, action, reward, next_obs, done, discount); `act` is epsilon-greedy
while the model is in train mode and greedy in eval mode. It keeps its own optimizer, so `learn`
optimizes itself and returns nothing.
"""

import copy
from math import prod

import torch
from torch import nn
from torch.nn.functional import smooth_l1_loss


class DQN(nn.Module):
    acts: torch.Tensor  # a buffer (register_buffer below), declared for the type checker

    def __init__(self, obs_spec, action_spec, hidden=256, lr=1e-3, tau=0.01, explore_steps=10_000, epsilon=0.05):
        super().__init__()
        if not action_spec.discrete:
            raise ValueError("DQN needs discrete actions: use an env with a discrete action space, or discrete=true")
        self.q = nn.Sequential(
            nn.Flatten(),
            nn.Linear(prod(obs_spec.shape), hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, action_spec.shape[0]),
        )
        self.target = copy.deepcopy(self.q).requires_grad_(False)  # a slowly trailing copy gives stable targets
        self.optim = torch.optim.Adam(self.q.parameters(), lr=lr)
        self.tau, self.explore_steps, self.epsilon = tau, explore_steps, epsilon
        self.register_buffer("acts", torch.zeros((), dtype=torch.long))  # a buffer: checkpoints keep it

    def forward(self, obs):
        return self.q(obs)  # (B, actions): one Q-value per action

    @torch.no_grad()
    def act(self, obs):
        values = self.q(obs)  # (B, actions)
        action = values.argmax(1)  # (B,)
        if self.training:  # explore: epsilon decays linearly from 1 to self.epsilon
            self.acts += len(obs)  # one act per env (several with envs=N)
            epsilon = max(self.epsilon, 1 - self.acts.item() / self.explore_steps)
            explore = torch.rand(len(obs)) < epsilon
            if explore.any():
                action = torch.where(explore, torch.randint_like(action, values.shape[1]), action)
        return action

    def learn(self, replay, log):
        batch = next(replay)
        with torch.no_grad():  # double Q: the online net picks the next action, the target net values it
            next_action = self.q(batch.next_obs).argmax(1, keepdim=True)
            next_q = self.target(batch.next_obs).gather(1, next_action).squeeze(1)
            target = batch.reward + batch.discount * (1 - batch.done) * next_q
        q = self.q(batch.obs).gather(1, batch.action.long().unsqueeze(1)).squeeze(1)
        loss = smooth_l1_loss(q, target)
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        with torch.no_grad():
            for target_param, param in zip(self.target.parameters(), self.q.parameters(), strict=True):
                target_param.lerp_(param, self.tau)
        log(loss=loss, q=q.mean())
