"""Replay: the batches `learn` draws with `next(replay)`.

The training split is held as tensors on the run's device and batched by index, with a fresh random
permutation each epoch (no per-sample `__getitem__`, no collate). A batch has `batch.obs` (float32)
and `batch.label` (int64 for classification, float32 for regression).
"""
from typing import NamedTuple

import torch


class Batch(NamedTuple):
    obs: torch.Tensor    # (B, *obs_shape) float32
    label: torch.Tensor  # (B,) int64 class, or (B,)/(B, k) float32 target


class Replay:
    def __init__(self, obs, label, batch_size, device, seed):
        self.obs, self.label = obs.to(device), label.to(device)
        self.batch_size = min(batch_size, len(self.obs))
        self.epoch = 0  # complete passes over the data so far
        self._generator = torch.Generator(device=self.obs.device).manual_seed(seed)
        self._order = self._permutation()
        self._position = 0

    def __len__(self):
        """Batches per epoch (a last partial batch is dropped, so every batch has batch_size samples)."""
        return len(self.obs) // self.batch_size

    def __iter__(self):
        return self

    def __next__(self):
        if self._position + self.batch_size > len(self.obs):
            self.epoch += 1
            self._order, self._position = self._permutation(), 0
        index = self._order[self._position:self._position + self.batch_size]
        self._position += self.batch_size
        return Batch(self.obs[index], self.label[index])

    def _permutation(self):
        return torch.randperm(len(self.obs), generator=self._generator, device=self.obs.device)

    def state_dict(self):
        """Where the replay stands: resuming from it draws the same batches an uninterrupted run would."""
        return {"epoch": self.epoch, "position": self._position, "order": self._order,
                "generator": self._generator.get_state()}

    def load_state_dict(self, state):
        self.epoch, self._position = state["epoch"], state["position"]
        self._order = state["order"].to(self.obs.device)
        self._generator.set_state(state["generator"].cpu())
