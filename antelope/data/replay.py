"""Replay: the batches `learn` draws with `next(replay)`.

The training split is held as tensors on the run's device and batched by index, with a fresh random
permutation each epoch (no per-sample `__getitem__`, no collate). A batch has `batch.obs` (float32)
and `batch.label` (int64 for classification, float32 for regression). Images held as uint8 stay uint8 (a
quarter of float32's memory) and become float32 in [0, 1] batch by batch on the device; then `augment`
(antelope.data.augment) and `transform` (antelope.data.transforms) transform `batch.obs` on the device.
Channels-last image data gives channels-last batches. Data too large to hold is streamed instead
(antelope.data.stream).

Drawing a batch is a list lookup: the data is copied in shuffled order and cut into all its batches
at once, for several epochs at a time when the data is small. Inside a training step an extra tensor
operation costs several times what it does in isolation (the step's own work pushes it out of the CPU's
caches), so the per-batch path holds none, and small data, whose epochs are short, is arranged a few
epochs at a time (tests/benchmarks/bench_speed.py measures the replay against plain indexing).
"""

from typing import NamedTuple

import torch

from .datasets import as_float
from .transforms import seed_for

# Data up to this size is copied in shuffled order, so that each batch is a view rather than a gather:
# one large copy costs far less than many small ones. Larger data is gathered batch by batch, so it
# never needs twice its memory (CIFAR-10's training images, 154 MB as uint8, are gathered).
SHUFFLED_COPY_BYTES = 1 << 26
# Small data is arranged up to this many batches ahead (whole epochs, each its own permutation), in
# copies of at most ARRANGED_BYTES: larger copies fall out of the CPU's caches, and cost more per byte
# inside the loop than the arrangements they save (a handful of Digits' epochs was the best trade).
ARRANGED_BATCHES = 128
ARRANGED_BYTES = 1 << 21


class Batch(NamedTuple):
    obs: torch.Tensor  # (B, *obs_shape) float32
    label: torch.Tensor  # (B,) int64 class, or (B,)/(B, k) float32 target


class Replay:
    _offset: int  # where the current epoch's batches start among those arranged (see _arrange)

    def __init__(self, obs, label, batch_size, device, seed, augment=None, transform=None):
        self.obs, self.label = obs.to(device), label.to(device)
        self.augment = augment  # augment(obs, generator) -> obs, or None
        self.transform = transform  # transform(obs, seed) -> obs (antelope.transforms.Batched), or None
        self.seed = seed
        self._as_stored = obs.dtype != torch.uint8 and augment is None and transform is None  # batches as held
        size, nbytes = len(self.obs), self.obs.nbytes + self.label.nbytes
        self.batch_size = min(batch_size, size)
        self.epoch = 0  # complete passes over the data so far
        self._per_epoch = size // self.batch_size  # a last partial batch is dropped: every batch is full
        self._generator = torch.Generator(device=self.obs.device).manual_seed(seed)
        channels_last = (
            self.obs.dim() == 4
            and not self.obs.is_contiguous()
            and self.obs.is_contiguous(memory_format=torch.channels_last)
        )
        self._format = torch.channels_last if channels_last else torch.contiguous_format
        self._cut = _shuffled_copy if nbytes <= SHUFFLED_COPY_BYTES else _Gathered
        # Epochs arranged at once. Augmentation draws from the same generator as the permutations, batch
        # by batch, so with it each epoch's permutation is drawn when the epoch starts, as ever: drawing
        # them ahead would change every augmented run's random stream.
        self._epochs_ahead = (
            1
            if augment is not None or self._cut is _Gathered
            else max(1, min(ARRANGED_BATCHES // self._per_epoch, ARRANGED_BYTES // max(nbytes, 1)))
        )
        self._arrange()

    def __len__(self):
        """Batches per epoch (a last partial batch is dropped, so every batch has batch_size samples)."""
        return self._per_epoch

    def __iter__(self):
        return self

    def __next__(self):
        if self._position == self._per_epoch:
            self._next_epoch()
        batch = self._batches[self._offset + self._position]
        self._position += 1
        if self._as_stored:
            return batch
        obs = as_float(batch.obs)
        if self.augment is not None:
            obs = self.augment(obs, self._generator)
        if self.transform is not None:  # its randomness from where the batch is in the run: resumable as it is
            obs = self.transform(obs, seed_for(self.seed, self.epoch, self._position))
        return Batch(obs.contiguous(memory_format=self._format), batch.label)

    def _next_epoch(self):
        self.epoch += 1
        self._offset, self._position = self._offset + self._per_epoch, 0
        if self._offset == len(self._batches):
            self._arrange()

    def _arrange(self, order=None, position=0):
        """The batches of the next `_epochs_ahead` epochs, each of a new permutation (the first of `order`
        when given: a resumed epoch, `position` of its batches drawn). Each epoch's last partial batch is
        dropped."""
        self._orders, self._states = [], []  # per epoch: its permutation, the generator's state after it
        for _ in range(self._epochs_ahead):
            self._orders.append(self._permutation() if order is None else order)
            self._states.append(self._generator.get_state())
            order = None
        used = self._per_epoch * self.batch_size
        order = torch.cat([o[:used] for o in self._orders]) if len(self._orders) > 1 else self._orders[0][:used]
        self._batches = self._cut(self.obs, self.label, order, self.batch_size, self._format)
        self._offset, self._position = 0, position

    def _permutation(self):
        return torch.randperm(len(self.obs), generator=self._generator, device=self.obs.device)

    def state_dict(self):
        """Where the replay stands: resuming from it draws the same batches an uninterrupted run would."""
        current = self._offset // self._per_epoch
        # The generator as it was after this epoch's permutation when later ones are drawn already;
        # else as it is (augmentation draws from it during the epoch)
        generator = self._states[current] if current < len(self._orders) - 1 else self._generator.get_state()
        return {
            "epoch": self.epoch,
            "position": self._position * self.batch_size,  # in samples drawn
            "order": self._orders[current],
            "generator": generator,
        }

    def load_state_dict(self, state):
        self.epoch = state["epoch"]
        self._generator.set_state(state["generator"].cpu())
        self._arrange(state["order"].to(self.obs.device), state["position"] // self.batch_size)


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

    def __len__(self):
        return len(self.order) // self.batch_size

    def __getitem__(self, i):
        index = self.order[i * self.batch_size : (i + 1) * self.batch_size]
        obs = self.obs.index_select(0, index).contiguous(memory_format=self.memory_format)  # default format otherwise
        return Batch(obs, self.label.index_select(0, index))


class Transition(NamedTuple):
    obs: torch.Tensor  # (B, *obs_shape) float32
    action: torch.Tensor  # (B,) int64 for a discrete action space, else (B, *action_shape) float32
    reward: torch.Tensor  # (B,) float32: the (n-step) sum of discounted rewards
    next_obs: torch.Tensor  # (B, *obs_shape) float32: the observation n steps later
    done: torch.Tensor  # (B,) float32: 1 where the episode terminated within those n steps
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
        values = dict(zip(self._FIELDS, (obs, action, reward, next_obs, done, discount), strict=True))
        values = {k: torch.as_tensor(v, device=self.device) for k, v in values.items()}
        if self._data is None:
            self._data = {
                k: torch.empty((min(1024, self.capacity), *v.shape), dtype=v.dtype, device=self.device)
                for k, v in values.items()
            }
        allocated = len(self._data["obs"])
        if self._position == allocated and allocated < self.capacity:
            grown = min(2 * allocated, self.capacity)
            self._data = {
                k: torch.cat([v, torch.empty((grown - allocated, *v.shape[1:]), dtype=v.dtype, device=self.device)])
                for k, v in self._data.items()
            }
        for k, v in values.items():
            self._data[k][self._position] = v
        self._position = (self._position + 1) % self.capacity
        self._size = min(self._size + 1, self.capacity)

    def __next__(self):
        if self._size == 0:
            raise RuntimeError("the replay buffer is empty: nothing has been collected yet")
        index = torch.randint(self._size, (self.batch_size,), generator=self._generator, device=self.device)
        batch = {k: v[index] for k, v in (self._data or {}).items()}
        for k in ("obs", "next_obs", "reward", "done", "discount"):
            batch[k] = batch[k].float()
        return Transition(**batch)

    def state_dict(self):
        """The stored transitions and the sampler's state: a resumed run samples what this one would."""
        data = {k: v[: self._size].clone() for k, v in self._data.items()} if self._data is not None else {}
        return {
            "data": data,
            "size": self._size,
            "position": self._position,
            "epoch": self.epoch,
            "generator": self._generator.get_state(),
        }

    def load_state_dict(self, state):
        self._size, self._position, self.epoch = state["size"], state["position"], state["epoch"]
        self._data = {k: v.to(self.device) for k, v in state["data"].items()} or None
        self._generator.set_state(state["generator"].cpu())
