"""Replay: the batches `learn` draws with `next(replay)`.

The training split is held as tensors on the run's device and batched by index, with a fresh random
permutation each epoch (no per-sample `__getitem__`, no collate). A batch has `batch.obs` (float32)
and `batch.label` (int64 for classification, float32 for regression); `augment` (antelope.augment)
transforms `batch.obs` on the device. Channels-last image data gives channels-last batches.

Drawing a batch is a list lookup: each epoch the data is copied in shuffled order and cut into all
its batches at once. Inside a training step an extra tensor operation costs several times what it does
in isolation (the step's own work pushes it out of the CPU's caches), so the per-batch path holds none:
with two slices per draw, the replay took about 15 µs of a 420 µs tiny-MLP step; now 6 to 9.
"""
from typing import NamedTuple

import torch

# Data up to this size is copied in shuffled order, so that each batch is a view rather than a gather:
# one large copy costs far less than many small ones. Larger data is gathered batch by batch, so it
# never needs twice its memory.
SHUFFLED_COPY_BYTES = 1 << 30


class Batch(NamedTuple):
    obs: torch.Tensor    # (B, *obs_shape) float32
    label: torch.Tensor  # (B,) int64 class, or (B,)/(B, k) float32 target


class Replay:
    def __init__(self, obs, label, batch_size, device, seed, augment=None):
        self.obs, self.label = obs.to(device), label.to(device)
        self.augment = augment  # augment(obs, generator) -> obs, or None
        size = len(self.obs)
        self.batch_size = min(batch_size, size)
        self.epoch = 0  # complete passes over the data so far
        self._per_epoch = size // self.batch_size  # a last partial batch is dropped: every batch is full
        self._generator = torch.Generator(device=self.obs.device).manual_seed(seed)
        channels_last = self.obs.dim() == 4 and not self.obs.is_contiguous() and \
            self.obs.is_contiguous(memory_format=torch.channels_last)
        self._format = torch.channels_last if channels_last else torch.contiguous_format
        self._cut = _shuffled_copy if self.obs.nbytes + self.label.nbytes <= SHUFFLED_COPY_BYTES else _Gathered
        self._arrange(self._permutation(), 0)

    def __len__(self):
        """Batches per epoch (a last partial batch is dropped, so every batch has batch_size samples)."""
        return self._per_epoch

    def __iter__(self):
        return self

    def __next__(self):
        if self._position == self._per_epoch:
            self.epoch += 1
            self._arrange(self._permutation(), 0)
        batch = self._batches[self._position]
        self._position += 1
        if self.augment is not None:
            return Batch(self.augment(batch.obs, self._generator).contiguous(memory_format=self._format), batch.label)
        return batch

    def _permutation(self):
        return torch.randperm(len(self.obs), generator=self._generator, device=self.obs.device)

    def _arrange(self, order, position):
        """This epoch's batches, of the samples in `order` (the last partial batch dropped); `position`
        of them drawn."""
        self._order, self._position = order, position
        self._batches = self._cut(self.obs, self.label, order[:self._per_epoch * self.batch_size], self.batch_size,
                                  self._format)

    def state_dict(self):
        """Where the replay stands: resuming from it draws the same batches an uninterrupted run would."""
        return {"epoch": self.epoch, "position": self._position * self.batch_size,  # in samples drawn
                "order": self._order, "generator": self._generator.get_state()}

    def load_state_dict(self, state):
        self.epoch = state["epoch"]
        self._arrange(state["order"].to(self.obs.device), state["position"] // self.batch_size)
        self._generator.set_state(state["generator"].cpu())


def _shuffled_copy(obs, label, order, batch_size, memory_format):
    """The batches as views of one shuffled copy: [Batch, ...]."""
    # index_select: several times faster than obs[order] for a gather along dim 0
    obs = obs.index_select(0, order).contiguous(memory_format=memory_format)
    return list(map(Batch, obs.split(batch_size), label.index_select(0, order).split(batch_size)))


class _Gathered:
    """The batches gathered one by one when drawn, for data too large to copy."""

    def __init__(self, obs, label, order, batch_size, memory_format):
        self.obs, self.label, self.batch_size, self.memory_format = obs, label, batch_size, memory_format
        self.order = order

    def __getitem__(self, i):
        index = self.order[i * self.batch_size:(i + 1) * self.batch_size]
        obs = self.obs.index_select(0, index).contiguous(memory_format=self.memory_format)  # default format otherwise
        return Batch(obs, self.label.index_select(0, index))


class Transition(NamedTuple):
    obs: torch.Tensor       # (B, *obs_shape) float32
    action: torch.Tensor    # (B,) int64 for a discrete action space, else (B, *action_shape) float32
    reward: torch.Tensor    # (B,) float32: the (n-step) sum of discounted rewards
    next_obs: torch.Tensor  # (B, *obs_shape) float32: the observation n steps later
    done: torch.Tensor      # (B,) float32: 1 where the episode terminated within those n steps
    discount: torch.Tensor  # (B,) float32: discount ** k, k the steps summed (k = nstep but near an episode's end)


class ReplayBuffer:
    """An RL replay buffer: `add` stores transitions, `next()` samples a `Transition` batch uniformly.

    Holds the newest `capacity` transitions as tensors on the run's device, grown by doubling up to
    capacity (so a large capacity costs nothing until it is used). Observations keep their dtype
    (uint8 frames stay uint8 in memory) and are float32 in batches. `epoch` counts completed episodes."""

    _FIELDS = Transition._fields

    def __init__(self, capacity, batch_size, device, seed):
        self.capacity, self.batch_size, self.device = capacity, batch_size, torch.device(device)
        self.epoch = 0  # episodes completed so far
        self._data = None  # {field: tensor (allocated, ...)}, built at the first add
        self._size = self._position = 0
        self._generator = torch.Generator(device=self.device).manual_seed(seed)

    def __len__(self):
        return self._size

    def __iter__(self):
        return self

    def add(self, obs, action, reward, next_obs, done, discount):
        """Store one transition (unbatched tensors or arrays)."""
        values = dict(zip(self._FIELDS, (obs, action, reward, next_obs, done, discount)))
        values = {k: torch.as_tensor(v, device=self.device) for k, v in values.items()}
        if self._data is None:
            self._data = {k: torch.empty((min(1024, self.capacity), *v.shape), dtype=v.dtype, device=self.device)
                          for k, v in values.items()}
        allocated = len(self._data["obs"])
        if self._position == allocated and allocated < self.capacity:
            grown = min(2 * allocated, self.capacity)
            self._data = {k: torch.cat([v, torch.empty((grown - allocated, *v.shape[1:]), dtype=v.dtype,
                                                         device=self.device)]) for k, v in self._data.items()}
        for k, v in values.items():
            self._data[k][self._position] = v
        self._position = (self._position + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def __next__(self):
        if self._size == 0:
            raise RuntimeError("the replay buffer is empty: nothing has been collected yet")
        index = torch.randint(self._size, (self.batch_size,), generator=self._generator, device=self.device)
        batch = {k: v[index] for k, v in self._data.items()}
        for k in ("obs", "next_obs", "reward", "done", "discount"):
            batch[k] = batch[k].float()
        return Transition(**batch)

    def state_dict(self):
        """The stored transitions and the sampler's state: a resumed run samples what this one would."""
        data = {k: v[:self._size].clone() for k, v in self._data.items()} if self._data is not None else {}
        return {"data": data, "size": self._size, "position": self._position, "epoch": self.epoch,
                "generator": self._generator.get_state()}

    def load_state_dict(self, state):
        self._size, self._position, self.epoch = state["size"], state["position"], state["epoch"]
        self._data = {k: v.to(self.device) for k, v in state["data"].items()} or None
        self._generator.set_state(state["generator"].cpu())
