"""Replay: the batches `learn` draws with `next(replay)`.

The training split is held as tensors on the run's device and batched by index, with a fresh random
permutation each epoch (no per-sample `__getitem__`, no collate). A batch has `batch.obs` (float32)
and `batch.label` (int64 for classification, float32 for regression).
"""
from typing import NamedTuple

import torch

# Data up to this size is copied in shuffled order once per epoch, so that each batch is a slice (a
# view) rather than a gather: one large copy costs far less than many small ones. Larger data is
# gathered batch by batch, so it never needs twice its memory.
SHUFFLED_COPY_BYTES = 1 << 30


class Batch(NamedTuple):
    obs: torch.Tensor    # (B, *obs_shape) float32
    label: torch.Tensor  # (B,) int64 class, or (B,)/(B, k) float32 target


class Replay:
    def __init__(self, obs, label, batch_size, device, seed):
        self.obs, self.label = obs.to(device), label.to(device)
        self.batch_size = min(batch_size, len(self.obs))
        self.epoch = 0  # complete passes over the data so far
        self._generator = torch.Generator(device=self.obs.device).manual_seed(seed)
        self._copy = self.obs.nbytes + self.label.nbytes <= SHUFFLED_COPY_BYTES
        self._arrange(self._permutation(), 0)

    def __len__(self):
        """Batches per epoch (a last partial batch is dropped, so every batch has batch_size samples)."""
        return len(self.obs) // self.batch_size

    def __iter__(self):
        return self

    def __next__(self):
        if self._position + self.batch_size > len(self.obs):
            self.epoch += 1
            self._arrange(self._permutation(), 0)
        start = self._position
        self._position += self.batch_size
        if self._copy:
            return Batch(self._obs[start:self._position], self._label[start:self._position])
        index = self._order[start:self._position]
        return Batch(self.obs[index], self.label[index])

    def _permutation(self):
        return torch.randperm(len(self.obs), generator=self._generator, device=self.obs.device)

    def _arrange(self, order, position):
        self._order, self._position = order, position
        if self._copy:
            self._obs, self._label = self.obs[order], self.label[order]

    def state_dict(self):
        """Where the replay stands: resuming from it draws the same batches an uninterrupted run would."""
        return {"epoch": self.epoch, "position": self._position, "order": self._order,
                "generator": self._generator.get_state()}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]
        self._arrange(state["order"].to(self.obs.device), state["position"])
        self._generator.set_state(state["generator"].cpu())
