"""Agents antelope ships, runnable by name (`agent=DQN`); each file reads top to bottom on its own.

- `AC2Agent`: the default; classification, regression, RL (discrete and continuous) and generative.
- `MLP`: a small supervised model whose `learn` returns its loss.
- `DQN`, `DDPG`, `GAN`, `Classifier`: examples to read and copy.
"""

from .ac2 import AC2Agent
from .classifier import Classifier
from .ddpg import DDPG
from .dqn import DQN
from .gan import GAN
from .mlp import MLP

__all__ = ["AC2Agent", "MLP", "DQN", "DDPG", "GAN", "Classifier"]
