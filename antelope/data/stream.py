"""Streamed data: a dataset too large to hold in memory, read batch by batch by DataLoader worker processes.

`stream=` picks the path: null (the default) holds the data in memory (antelope.replay.Replay: the fastest
path) when its training and test splits, as stored, fit a quarter of the free memory (of the GPU too, when
the run is on one), and streams it otherwise; true or false force a path. The run records which, and why.

A `Stream` is the streaming twin of `Replay`: `next(stream)` is a Batch on the run's device. Its worker
processes read samples (decode, resize, `transform=`) ahead of the training loop, `prefetch` batches
each, into pinned memory when the device is a GPU; the copy to the device does not wait for the GPU. Each
epoch is a permutation of the samples drawn from the run's seed and the epoch alone, and each sample's
random transform from its seed, epoch and index, so where a run stands is (epoch, batches drawn): a
checkpoint holds that, and a resumed run draws the same batches as an uninterrupted one, whichever
worker reads what. Under torchrun each process streams its own shard (every world-th sample).
"""

import functools
import math
import os

import torch

from . import transforms
from .datasets import Split, as_float
from .replay import Batch
from .samples import Reader, Samples, collate, nbytes, stop_workers, worker_died

MEMORY_FRACTION = 0.25  # of the free memory, what data held in memory may take (it is briefly held twice while read)
PREFETCH = 2  # batches each worker reads ahead (DataLoader's default; each is in shared memory until drawn)
EVAL_BATCH = 1024  # samples per evaluation batch,
EVAL_BATCH_BYTES = 64 << 20  # or fewer, in this many bytes (as float32) at most: each worker holds a few ahead


def default_workers():
    """Worker processes when data_workers= is not given: one per CPU this process may use, at most 8."""
    return min(8, len(os.sched_getaffinity(0)))


def choose(stream, data, device, image_size=None, bad_samples="error", generate=False):
    """(whether to stream, why): `stream` when given, else whether the data fits in memory."""
    if stream is not None:
        return bool(stream), f"stream={str(bool(stream)).lower()} was set"
    if isinstance(data.train, Split) and isinstance(data.test, Split):
        return False, "tables and Digits are small: read whole"
    if generate:
        return False, "generate=true compares samples with the test split held in memory"
    size = sum(nbytes(split, image_size, bad_samples) for split in (data.train, data.test))
    free, where = free_memory(device)
    budget = int(free * MEMORY_FRACTION)
    if size <= budget:
        return False, f"{_size(size)} as stored fits in {_size(budget)}, a quarter of the free {where} memory"
    return True, f"{_size(size)} as stored is more than {_size(budget)}, a quarter of the free {where} memory"


def free_memory(device):
    """(bytes, 'host' or 'GPU'): the memory free for the data, the smaller of the host's and the GPU's."""
    import psutil

    free, where = psutil.virtual_memory().available, "host"
    if device.type == "cuda":
        gpu = torch.cuda.mem_get_info(device)[0]
        if gpu < free:
            free, where = gpu, "GPU"
    return free, where


def _size(n):
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Stream:
    """`next(stream)`: a Batch of `batch_size` samples of `dataset` on `device`, read by `workers` processes
    (0: in this process). Its `epoch` counts complete passes; a last partial batch of each is dropped.
    `shape` is the samples' (that of the first), a sample of another shape an error naming it."""

    def __init__(
        self,
        dataset,
        batch_size,
        device,
        seed,
        shape,
        image_size=None,
        transform=None,
        workers=0,
        bad_samples="error",
        rank=0,
        world=1,
        augment=None,
    ):
        self.dataset, self.device, self.seed, self.workers = dataset, torch.device(device), seed, workers
        self.augment = augment  # augment(obs, generator) -> obs on the device (antelope.data.augment), or None
        self.indices = torch.arange(rank, len(dataset), world)
        self.batch_size = min(batch_size, len(self.indices))
        self.epoch, self._position = 0, 0  # complete passes; batches drawn in the current one (up to _per_epoch)
        self._per_epoch = len(self.indices) // self.batch_size
        self._samples = Samples(dataset, image_size, transform)
        self._seeded = transform is not None
        self._reader = Reader(dataset, bad_samples, image_size)
        self._collate = functools.partial(collate, shape=shape)
        self._batches = None  # the loader's iterator, started at the first draw

    @property
    def skipped(self):
        """Samples left out so far for being unreadable (bad_samples=skip)."""
        return self._reader.skipped

    def __len__(self):
        return self._per_epoch

    def __iter__(self):
        return self

    def __next__(self):
        try:
            return self._next()
        except RuntimeError as error:  # torch's handler of a dead worker raises wherever this process is then
            died = worker_died(error)
            if died is not error:
                self.close()
            raise died from None

    def _next(self):
        if self._batches is None:
            self._batches = iter(self._loader())
        while True:
            batch = self._reader.check(next(self._batches))
            if self._position == self._per_epoch:  # the epoch counts as passed when the next one starts, as in Replay
                self.epoch, self._position = self.epoch + 1, 0
            self._position += 1
            if len(batch.indices):  # empty only when every sample of it was unreadable and skipped
                obs = as_float(batch.obs.to(self.device, non_blocking=True))
                if self.augment is not None:  # drawn from where the batch is in the run: resumable as it is
                    generator = torch.Generator(self.device)
                    obs = self.augment(
                        obs, generator.manual_seed(transforms.seed_for(self.seed, self.epoch, self._position))
                    )
                return Batch(obs, batch.label.to(self.device, non_blocking=True))

    def _loader(self):
        pinned = self.device.type == "cuda"
        order = _Order(self.indices, self.batch_size, self.seed, self.epoch, self._position, self._seeded)
        # its own generator: a loader draws its workers' base seed when started, which must not move the run's
        # global random state (a resumed run starts it at another step than an uninterrupted one)
        generator = torch.Generator().manual_seed(transforms.seed_for(self.seed, self.epoch, self._position))
        return torch.utils.data.DataLoader(
            self._samples,
            batch_sampler=order,
            num_workers=self.workers,
            collate_fn=self._collate,
            pin_memory=pinned,
            prefetch_factor=PREFETCH if self.workers else None,
            persistent_workers=self.workers > 0,
            generator=generator,
        )

    def state_dict(self):
        """Where the stream stands: resuming from it draws the same batches an uninterrupted run would."""
        return {"epoch": self.epoch, "position": self._position * self.batch_size}  # position: samples drawn

    def load_state_dict(self, state):
        self.close()
        self.epoch, self._position = int(state["epoch"]), int(state["position"]) // self.batch_size

    def close(self):
        """Stops the worker processes (also when the stream is dropped); the next draw starts them again."""
        batches, self._batches = self._batches, None
        stop_workers(batches)


class _Order:
    """The batches of sample keys, epoch after epoch from `epoch`, `position` batches into it: each epoch a
    permutation of `indices` drawn from (seed, epoch); with `seeded` each key is (index, the sample's seed)."""

    def __init__(self, indices, batch_size, seed, epoch, position, seeded):
        self.indices, self.batch_size, self.seed = indices, batch_size, seed
        self.epoch, self.position, self.seeded = epoch, position, seeded

    def __iter__(self):
        epoch, position = self.epoch, self.position
        per_epoch = len(self.indices) // self.batch_size
        while True:
            base = transforms.seed_for(self.seed, epoch)
            order = self.indices[torch.randperm(len(self.indices), generator=torch.Generator().manual_seed(base))]
            order = order[: per_epoch * self.batch_size].tolist()
            for start in range(position * self.batch_size, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                yield [(i, transforms.sample_seed(base, i)) for i in batch] if self.seeded else batch
            epoch, position = epoch + 1, 0


class Evaluation:
    """The test split's batches on the run's device, read by persistent worker processes when streamed:
    `for obs, label in evaluation.batches()`. `eval_transform` runs as `transform=` does; its random
    draws (if any) are the same at every evaluation."""

    def __init__(
        self,
        test,
        device,
        seed,
        image_size=None,
        transform=None,
        workers=0,
        bad_samples="error",
        shape=None,
        batch_size=EVAL_BATCH,
    ):
        if shape is not None:
            batch_size = max(1, min(batch_size, EVAL_BATCH_BYTES // (4 * math.prod(shape))))
        self.test, self.device, self.seed, self.batch_size = test, torch.device(device), seed, batch_size
        self._in_memory = isinstance(test, Split)
        self._transform = transform
        if self._in_memory:
            self._batched = transforms.Batched(transform) if transform is not None else None
            return
        self._reader = Reader(test, bad_samples, image_size)
        base = transforms.seed_for(seed, 1 << 32)  # apart from every training epoch's
        keys: list = (
            [(i, transforms.sample_seed(base, i)) for i in range(len(test))]
            if transform is not None
            else list(range(len(test)))
        )
        self._loader = self._batches = None  # made at the first evaluation; its workers stay for the next
        self._arguments = dict(
            dataset=torch.utils.data.Subset(Samples(test, image_size, transform), keys),
            batch_size=batch_size,
            num_workers=workers,
            collate_fn=functools.partial(collate, shape=shape),
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            prefetch_factor=PREFETCH if workers else None,
            generator=torch.Generator().manual_seed(seed),
        )

    @property
    def skipped(self):
        """Test samples left out for being unreadable (bad_samples=skip)."""
        return 0 if self._in_memory else self._reader.skipped

    def batches(self):
        """(obs, label) batches of the whole test split, on the device."""
        if self._in_memory:
            for start in range(0, len(self.test), self.batch_size):
                obs = as_float(self.test.obs[start : start + self.batch_size])
                if self._batched is not None:
                    obs = self._batched(obs, transforms.seed_for(self.seed, 1 << 32, start))
                yield obs, self.test.label[start : start + self.batch_size]
            return
        if self._loader is None:
            self._loader = torch.utils.data.DataLoader(**self._arguments)
        batches = self._batches = iter(self._loader)  # with persistent workers, the same iterator every time
        while True:
            try:
                batch = self._reader.check(next(batches))
            except StopIteration:
                return
            except RuntimeError as error:
                died = worker_died(error)
                if died is not error:
                    self.close()
                raise died from None
            if len(batch.indices):
                yield (
                    as_float(batch.obs.to(self.device, non_blocking=True)),
                    batch.label.to(self.device, non_blocking=True),
                )

    def close(self):
        """Stops the persistent worker processes."""
        if not self._in_memory and self._batches is not None:
            stop_workers(self._batches)
        self._loader = self._batches = None
