"""A run's dataset as the run reads it, built whole: opened, held in memory or streamed, and what it yields.

    feed = Feed.open(cfg, objects, device)   # the run room's call; under torchrun also rank= and world=
    next(feed.replay)                         # a training batch on the device (Replay, or a Stream)
    feed.evaluation.batches()                 # the test split's batches
    feed.spec, feed.examples                  # what the data looks like; a few model inputs on the device

`Feed.open` reads the data keys of the run's config (dataset=, stream=, image_size=, transform=, ...); what it
chose where the config left it open (whether to stream, how many worker processes) is in `feed.choices`, so the
run records it and a resumed run reads its data the same way.
"""

import sys
from dataclasses import dataclass
from typing import Sized, Union, cast

import torch

from ..errors import ConfigError
from . import augment, datasets, samples, stream, transforms
from .replay import Replay
from .spec import Spec, generative, spec_of


@dataclass(frozen=True)
class Reading:
    """How a run reads its dataset: held in memory or streamed, why, and by how many worker processes."""

    streaming: bool
    why: str
    workers: int  # DataLoader worker processes (0: the training process reads)

    def __str__(self):
        workers = {0: "in the training process", 1: "by 1 worker process"}.get(
            self.workers, f"by {self.workers} worker processes"
        )
        return f"{'streamed ' + workers if self.streaming else 'in memory'} ({self.why})"


@dataclass(frozen=True)
class Feed:
    data: datasets.Data  # its splits: in memory (Splits), or Datasets to stream
    reading: Reading
    spec: Spec  # what a model's constructor is filled from
    replay: Union[Replay, stream.Stream]  # `next(replay)` is a training batch
    evaluation: stream.Evaluation  # the test split's batches
    examples: torch.Tensor  # a few model inputs (test samples as the model gets them), on the device
    records: tuple  # each split as a run records it: dicts of name, context, source, digest, features, targets, rows
    read_skipped: int = 0  # samples left out while reading into memory (bad_samples=skip)
    transforms_on_device: bool = False  # transform= runs on the replay's batches (data held in memory)
    augmented: bool = False  # augment= runs on the batches
    unused: tuple = ()  # data keys of the config that this dataset does not use (label_column but for tables)

    @property
    def choices(self):
        """The data keys the config left open, as this run took them."""
        return {"stream": self.reading.streaming, "data_workers": self.reading.workers}

    @property
    def checked(self):
        """What the run knows of its data's values: every sample was found finite as it was read (tables, arrays
        and each sample read alike), but what transforms and augmentations make of it on the device afterwards."""
        after = [
            key for key, given in (("transform=", self.transforms_on_device), ("augment=", self.augmented)) if given
        ]
        return "the data's inputs and labels were all finite when read" + (
            f" (before {' and '.join(after)})" if after else ""
        )

    @property
    def skipped(self):
        """Unreadable samples left out so far (bad_samples=skip)."""
        return self.read_skipped + sum(getattr(reader, "skipped", 0) for reader in (self.replay, self.evaluation))

    def say_how_it_is_read(self):
        """'ml: data: 1,437 training and 360 test samples of 1x8x8, 10 classes; in memory (why)': said once the
        run is open (an error before it stays one line)."""
        shape = "x".join(str(n) for n in self.spec.obs.shape) or "scalars"
        classes = self.spec.num_classes
        target = f"{classes} classes" if classes is not None else "regression targets"
        train, test = (len(cast(Sized, split)) for split in (self.data.train, self.data.test))
        print(
            f"ml: data: {train:,} training and {test:,} test samples of {shape}, {target}; {self.reading}",
            file=sys.stderr,
        )

    def stop_training_workers(self):
        """Training is over: a stream's workers would only idle beside the evaluation's."""
        if isinstance(self.replay, stream.Stream):
            self.replay.close()

    def close(self):
        """Stops the worker processes that read streamed data."""
        self.stop_training_workers()
        self.evaluation.close()

    @classmethod
    def open(cls, cfg, objects, device, rank=0, world=1, record=True):
        """The dataset of the run's config `cfg` (and `objects`, Python objects given for dataset=, transform=,
        ...), read for this process (`rank` of `world` under torchrun: its shard); `record`: describe the
        splits for the run's record (`records`)."""
        data = datasets.open_splits(
            cfg.dataset, cfg.test_dataset, cfg.dataset_root, cfg.label_column, objects, cfg.bad_samples
        )
        size = image_size(cfg.image_size)
        streaming, why = stream.choose(cfg.stream, data, device, size, cfg.bad_samples, cfg.generate)
        if streaming and cfg.generate:
            raise ConfigError("generate=true compares its samples with the test split held in memory; drop stream=true")
        workers = stream.default_workers() if cfg.data_workers is None else cfg.data_workers
        reading = Reading(streaming, why, workers)
        transform = transforms.build(objects.get("transform", list(cfg.transform)))
        eval_transform = transforms.build(objects.get("eval_transform", list(cfg.eval_transform)))
        skipped: list[int] = []
        if streaming:
            sample = samples.sample(data.train, size, cfg.bad_samples)  # for the spec, the examples, the record
        else:
            data.train = samples.into_memory(data.train, size, workers, cfg.bad_samples, skipped.append)
            data.test = samples.into_memory(data.test, size, workers, cfg.bad_samples, skipped.append)
            sample = data.train
        if data.num_classes is None:
            data.num_classes = datasets.num_classes(data.train, sample.label)
        obs = sample.obs
        if transform is not None:  # the spec describes what the model gets: transformed samples
            obs = transforms.Batched(transform)(datasets.as_float(obs[: samples.SPEC_SAMPLES]), cfg.seed)
        spec = spec_of(obs, sample.label[: len(obs)], data.num_classes)
        if cfg.generate:
            spec = generative(spec)
        shape = tuple(spec.obs.shape)
        if cfg.augment and len(shape) != 3:
            raise ConfigError(
                f"augment={list(cfg.augment)} needs images (N, C, H, W); dataset={cfg.dataset} has "
                f"obs of shape {(len(data.train), *shape)}"
            )
        batch_size = per_rank(cfg.batch_size, world)
        replay: Union[Replay, stream.Stream]
        if streaming:
            replay = stream.Stream(
                data.train,
                batch_size,
                device,
                cfg.seed,
                shape,
                size,
                transform,
                workers,
                cfg.bad_samples,
                rank,
                world,
                augment.compose(cfg.augment),
            )
            evaluation = stream.Evaluation(
                data.test,
                device,
                cfg.seed,
                size,
                eval_transform,
                workers,
                cfg.bad_samples,
                _eval_shape(data.test, size, eval_transform, cfg.bad_samples),
            )
            examples = sample.obs[:5]
        else:
            obs, label = data.train.obs[rank::world], data.train.label[rank::world]
            if cfg.channels_last and obs.dim() == 4:
                obs = obs.contiguous(memory_format=torch.channels_last)  # the replay's batches keep the format
            batched = transforms.Batched(transform) if transform is not None else None
            replay = Replay(obs, label, batch_size, device, cfg.seed, augment.compose(cfg.augment), batched)
            test = datasets.Split(data.test.obs.to(device), data.test.label.to(device))
            if cfg.channels_last and test.obs.dim() == 4:
                test.obs = test.obs.to(memory_format=torch.channels_last)
            evaluation = stream.Evaluation(test, device, cfg.seed, transform=eval_transform)
            examples = test.obs[:5]
        examples = datasets.as_float(examples.to(device))
        if eval_transform is not None:
            examples = transforms.Batched(eval_transform)(examples, cfg.seed)
        records = _records(cfg, data, sample, size) if record else ()
        return cls(
            data,
            reading,
            spec,
            replay,
            evaluation,
            examples,
            records,
            data.skipped + sum(skipped),
            transforms_on_device=transform is not None and not streaming,
            augmented=bool(cfg.augment),
            unused=datasets.unused_keys(objects.get("dataset", cfg.dataset)),
        )


def image_size(value):
    """image_size= as resizing takes it: None, N, or (H, W)."""
    if value is None or isinstance(value, int):
        return value
    return tuple(value) if len(value) == 2 else int(value[0])


def per_rank(batch_size, world):
    """The samples each of `world` torchrun processes takes per batch (each reads every world-th sample)."""
    if batch_size % world:
        raise ConfigError(
            f"batch_size={batch_size} must divide by the {world} processes (torchrun "
            f"--nproc-per-node); each takes batch_size / processes samples per batch"
        )
    return batch_size // world


def _eval_shape(test, size, eval_transform, bad_samples):
    """The shape of a test sample as the model gets it (after image_size= and eval_transform=)."""
    x, _ = samples.first_sample(test, size, bad_samples)
    if eval_transform is not None:
        x = transforms.Batched(eval_transform)(datasets.as_float(x[None]), 0)[0]
    return tuple(x.shape)


def _records(cfg, data, sample, size):
    """The splits as a run records them (MLflow dataset inputs): one in memory by its content; a streamed one
    by its files (or its length) and a sample of its content."""
    import os

    found = []
    for context, split, origin in (
        ("train", data.train, cfg.dataset),
        ("eval", data.test, cfg.test_dataset or cfg.dataset),
    ):
        name = os.path.basename(os.path.normpath(origin))
        if isinstance(split, datasets.Split):
            found.append(
                dict(
                    name=name,
                    context=context,
                    source=origin,
                    digest=datasets.digest(split),
                    features=split.obs,
                    targets=split.label,
                )
            )
            continue
        part = sample if context == "train" else samples.sample(split, size, cfg.bad_samples, n=16)
        found.append(
            dict(
                name=name,
                context=context,
                source=origin,
                digest=datasets.fingerprint(split, part),
                features=part.obs,
                targets=part.label,
                rows=len(split),
            )
        )
    return tuple(found)
