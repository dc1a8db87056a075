"""Reading samples, the same for data read into memory (`into_memory`) and data streamed (antelope.data.stream).

`Samples` reads each sample of a Dataset: x becomes a tensor, images (PIL images, uint8 arrays) stay uint8
(C, H, W), resized to `image_size` (the shorter side, then the centre) when it is given; other data float32.
A sample that cannot be read (the user's `__getitem__` raised, a corrupt file, another shape than the
first sample's) comes back as a `Failure`, not raised in a worker process: `Reader` turns it into one line
naming the sample (and its file), or skips and counts it (bad_samples=skip).
"""

import contextlib
import functools
import os
from typing import NamedTuple, Optional

import torch

from ..errors import ConfigError
from .datasets import SPLIT_SEED, Data, Split, as_float, name_of, num_classes, open_splits

SPEC_SAMPLES = 1000  # a streamed dataset's statistics (spec.obs mean, stddev, range) come from this many samples,
SPEC_BYTES = 64 << 20  # or fewer, in this many bytes at most


class Failure(NamedTuple):
    """A sample that could not be read: where it is (its index, and its file when it has one) and why."""

    number: int  # its index in the dataset
    place: str  # its file, when it has one
    reason: str
    shape: Optional[tuple] = None  # when it read fine but its x has another shape than the first sample's
    unusable: bool = False  # it read fine but holds a NaN or an infinite value


class Samples(torch.utils.data.Dataset):
    """A Dataset's samples as antelope reads them: `samples[index]` or `samples[(index, seed)]` is
    (index, x, y), or a Failure. x: images uint8 (C, H, W) resized to `image_size` (an int: the shorter
    side, then the centre crop; or (h, w)), other data float32; then `transform` (antelope.data.transforms: on
    float32 images), drawing its randomness from `seed` alone, so that a sample looks the same whichever
    worker process reads it, and a resumed run sees what an uninterrupted one would."""

    def __init__(self, dataset, image_size=None, transform=None):
        self.dataset, self.image_size, self.transform = dataset, image_size, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        index, seed = key if isinstance(key, tuple) else (key, None)
        try:
            x, y = self.dataset[index]
            x = _as_tensor(_resize(x, self.image_size) if self.image_size is not None else x)
            y = torch.as_tensor(y)
            if self.transform is not None:
                x = self._transformed(as_float(x), seed)
        except Exception as error:  # the user's __getitem__, a corrupt file, a transform: named, not raised here
            detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
            return Failure(index, where(self.dataset, index), f"{type(error).__name__}: {detail}".rstrip(": "))
        flaw = nonfinite(x[None], "input (x)") or nonfinite(y[None], "label (y)")
        if flaw is not None:
            return Failure(index, where(self.dataset, index), flaw, unusable=True)
        return index, x, y

    def _transformed(self, x, seed):
        """`transform(x)` drawing from `seed`: seeded as it is in a worker process (whose random state is its
        own), with the random state put back after it in the training process (data_workers=0)."""
        in_worker = torch.utils.data.get_worker_info() is not None
        with contextlib.nullcontext() if in_worker else torch.random.fork_rng(devices=[]):
            if seed is not None:  # transforms draw on the CPU; torch.manual_seed would also note the call for
                torch.default_generator.manual_seed(seed)  # CUDA's deferred seeding, a stack trace per sample
            return self.transform(x)


def nonfinite(values, what):
    """'has a NaN in its input (x)' when a batch of values (N, ...) holds a NaN (else an infinite value); None
    when every value is finite, or they are integers, which cannot be anything else."""
    if not values.dtype.is_floating_point or bool(torch.isfinite(values).all()):
        return None
    return f"has {'a NaN' if bool(torch.isnan(values).any()) else 'an infinite value'} in its {what}"


def _finite_rows(split):
    """A bool per sample of a Split: whether its obs and label are all finite."""
    rows = torch.ones(len(split), dtype=torch.bool)
    for values in (split.obs, split.label):
        if values.dtype.is_floating_point:
            rows &= torch.isfinite(values.reshape(len(values), -1)).all(1)
    return rows


def where(dataset, index):
    """'sample 17 (folder/cat/17.jpg)': a sample by its index in the dataset, with its file when it has one."""
    while isinstance(dataset, torch.utils.data.Subset):
        dataset, index = dataset.dataset, dataset.indices[index]
    files = getattr(dataset, "samples", None) or getattr(dataset, "imgs", None) or ()
    try:
        path = files[index][0]
    except (TypeError, IndexError, KeyError):
        return f"sample {index} of {type(dataset).__name__}"
    return f"sample {index} ({path})" if isinstance(path, (str, os.PathLike)) else f"sample {index}"


def _as_tensor(x):
    from PIL.Image import Image

    if isinstance(x, Image):
        from torchvision.transforms.v2.functional import pil_to_tensor

        return pil_to_tensor(x if x.mode == _mode(x) else x.convert(_mode(x)))
    x = torch.as_tensor(x)
    return x if x.dtype == torch.uint8 else x.float()


def _mode(image):
    """The mode a PIL image is read in: an image file's is RGB (as torchvision's ImageFolder reads them: a
    folder's few grayscale files get the others' channels); one a Dataset made itself stays grayscale (L)
    if it is, else RGB."""
    return "L" if image.mode == "L" and not getattr(image, "filename", None) else "RGB"


def _resize(image, size):
    """`image` (a PIL image, or a (C, H, W) tensor) at `size`: an int scales the shorter side to it and crops
    the centre square; (h, w) resizes to that. A JPEG not decoded yet is decoded at the smallest of its
    built-in reduced scales that is still at least `size` (PIL's draft mode), far faster than in full."""
    from PIL.Image import Image
    from torchvision.transforms.v2 import functional

    if not isinstance(image, Image) and not (isinstance(image, torch.Tensor) and image.dim() == 3):
        return image  # not an image: image_size does not apply
    height, width = (size, size) if isinstance(size, int) else size
    if isinstance(image, Image):
        if image.format == "JPEG":
            image.draft("RGB", (width, height))  # a no-op once the image is decoded
        if image.mode != _mode(image):
            image = image.convert(_mode(image))
    current = (image.height, image.width) if isinstance(image, Image) else tuple(image.shape[-2:])
    if current == (height, width):
        return image
    if isinstance(size, int):
        image = functional.resize(image, size, antialias=True)
        return functional.center_crop(image, [size, size])
    return functional.resize(image, [height, width], antialias=True)


def _resized(split, size, chunk=4096):
    """A Split of images (N, C, H, W) at `size`, as `_resize` does each image, a chunk of them at a time."""
    from torchvision.transforms.v2 import functional

    height, width = (size, size) if isinstance(size, int) else size
    if tuple(split.obs.shape[-2:]) == (height, width):
        return split
    parts = []
    for start in range(0, len(split), chunk):
        part = split.obs[start : start + chunk]
        if isinstance(size, int):
            part = functional.center_crop(functional.resize(part, size, antialias=True), [size, size])
        else:
            part = functional.resize(part, [height, width], antialias=True)
        parts.append(part)
    return Split(torch.cat(parts), split.label)


class Loaded(NamedTuple):
    """Samples read together: their indices, obs and labels stacked, and the ones that failed."""

    indices: torch.Tensor
    obs: torch.Tensor
    label: torch.Tensor
    failures: tuple


def collate(samples, shape=None):
    """A Loaded batch of (index, x, y) samples and Failures; a sample whose x is not of `shape` (that of the
    dataset's first sample) is a Failure naming both shapes."""
    good, failures = [], []
    for sample in samples:
        if isinstance(sample, Failure):
            failures.append(sample)
        elif shape is not None and tuple(sample[1].shape) != tuple(shape):
            failures.append(
                Failure(
                    sample[0],
                    "",
                    f"has shape {tuple(sample[1].shape)}, the first sample {tuple(shape)}",
                    tuple(sample[1].shape),
                )
            )
        else:
            good.append(sample)
    if not good:
        return Loaded(torch.empty(0, dtype=torch.long), torch.empty(0), torch.empty(0), tuple(failures))
    index, obs, label = zip(*good, strict=True)
    # default_collate stacks straight into shared memory in a worker process (torch.stack would build the batch
    # on the worker's heap and copy it there: the heap grows batch after batch)
    collated = torch.utils.data.default_collate
    return Loaded(torch.tensor(index), collated(list(obs)), collated(list(label)), tuple(failures))


class Reader:
    """Checks each Loaded batch's failures: raises the first as one line (bad_samples=error), or counts them (skip)."""

    def __init__(self, dataset, bad_samples="error", image_size=None):
        self.dataset, self.bad_samples, self.image_size = dataset, bad_samples, image_size
        self._skipped = set()  # indices: a streamed sample left out in every epoch counts once

    @property
    def skipped(self):
        """How many samples were left out (bad_samples=skip)."""
        return len(self._skipped)

    def check(self, batch):
        for failure in batch.failures:
            if self.bad_samples == "skip":
                self._skipped.add(failure.number)
                continue
            place = failure.place or where(self.dataset, failure.number)
            if failure.unusable:
                raise ConfigError(
                    f"dataset {name_of(self.dataset)}: {place} {failure.reason} (bad_samples=skip "
                    f"leaves samples with NaN or infinite values out)"
                )
            if failure.shape is not None:
                images = len(failure.shape) == 3 and self.image_size is None
                fix = "give image_size= to resize the images to one size" if images else "make its samples one shape"
                raise ConfigError(
                    f"dataset {name_of(self.dataset)}: {place} {failure.reason}: samples differ in "
                    f"shape; {fix} (or bad_samples=skip to leave such samples out)"
                )
            raise ConfigError(
                f"dataset {name_of(self.dataset)}: {place} cannot be read: {failure.reason} "
                f"(bad_samples=skip leaves unreadable samples out)"
            )
        return batch


def first_sample(dataset, image_size=None, bad_samples="error"):
    """(x, y) of the first readable sample (x as read, before any transform): the shape and type every
    other sample must have."""
    samples, reader = Samples(dataset, image_size), Reader(dataset, bad_samples, image_size)
    for index in range(len(dataset)):
        batch = reader.check(collate([samples[index]]))
        if len(batch.indices):
            return batch.obs[0], batch.label[0]
    raise ConfigError(f"dataset {name_of(dataset)}: none of its {len(dataset)} samples can be read")


def nbytes(dataset, image_size=None, bad_samples="error"):
    """What the dataset takes held in memory: its length times its first sample's size (obs and label)."""
    if isinstance(dataset, Split):
        return dataset.obs.nbytes + dataset.label.nbytes
    x, y = first_sample(dataset, image_size, bad_samples)
    return len(dataset) * (x.nbytes + max(y.nbytes, 8))


def into_memory(dataset, image_size=None, workers=0, bad_samples="error", report=None):
    """The dataset as a Split: from its `.data`/`.targets` arrays when those are what it yields, else read
    with DataLoader worker processes into one preallocated tensor (uint8 for images). `report(skipped)` is
    told how many samples were left out (bad_samples=skip)."""
    if isinstance(dataset, Split):  # a table or Digits, read whole: images among them resized as any others
        return _resized(dataset, image_size) if image_size is not None and dataset.obs.dim() == 4 else dataset
    if image_size is None:
        split = _from_arrays(dataset)
        if split is not None:
            return _finite(split, dataset, bad_samples, report)
    x, y = first_sample(dataset, image_size, bad_samples)
    obs = torch.empty((len(dataset), *x.shape), dtype=x.dtype)
    label = torch.empty((len(dataset), *y.shape), dtype=y.dtype)
    reader, filled = Reader(dataset, bad_samples, image_size), 0
    loader = torch.utils.data.DataLoader(
        Samples(dataset, image_size),
        batch_size=256,
        num_workers=workers,
        collate_fn=functools.partial(collate, shape=x.shape),
    )
    batches = iter(loader)
    try:
        for batch in map(reader.check, batches):  # a sample with a NaN or an inf is a Failure too (Samples)
            obs[filled : filled + len(batch.indices)] = batch.obs
            label[filled : filled + len(batch.indices)] = batch.label
            filled += len(batch.indices)
    except TypeError:
        raise ConfigError(f"dataset {name_of(dataset)} must yield (x, y) pairs") from None
    except RuntimeError as error:  # torch's handler of a dead worker raises wherever the loop is
        raise worker_died(error) from None
    finally:
        stop_workers(batches)
    if report is not None and reader.skipped:
        report(reader.skipped)
    return Split(obs[:filled], _label_tensor(label[:filled]))


def _finite(split, dataset, bad_samples, report):
    """A Split read from a dataset's arrays, checked as Samples checks each sample it reads: a NaN or an infinite
    value names its first sample (bad_samples=error), or leaves such samples out, counted (skip)."""
    rows = _finite_rows(split)
    if bool(rows.all()):
        return split
    bad = int((~rows).sum())
    if bad_samples != "skip":
        first = int((~rows).nonzero()[0])
        flaw = nonfinite(split.obs[first : first + 1], "input (x)") or nonfinite(
            split.label[first : first + 1], "label (y)"
        )
        raise ConfigError(
            f"dataset {name_of(dataset)}: {where(dataset, first)} {flaw} ({bad} of its {len(split)} "
            f"samples have such values; bad_samples=skip leaves them out)"
        )
    if report is not None:
        report(bad)
    return Split(split.obs[rows], split.label[rows])


def stop_workers(batches):
    """Stops the worker processes of a DataLoader's iterator now. DataLoader has no public way to: its iterator
    stops them when it is collected, which an error's traceback (it holds the iterator) puts off until the
    error is gone, or until the garbage collector breaks the cycle. So this calls the iterator's own
    shutdown, the one private name used here (torch < 3 in pyproject.toml; tests/test_stream.py and
    tests/test_samples.py check that no worker is left); without it, dropping the iterator is all there is."""
    shutdown = getattr(batches, "_shutdown_workers", None)
    if shutdown is not None:
        shutdown()


def worker_died(error):
    """DataLoader's error for a worker process that died (killed, out of memory, a crash in C) as one line;
    other errors as they are."""
    from ..errors import TrainingError

    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if "DataLoader worker (pid" not in message:  # not "Caught ... in DataLoader worker process": an error it re-raises
        return error
    return TrainingError(
        f"a data loading worker process died: {message} (out of memory? try fewer "
        f"data_workers= or a smaller batch_size=)"
    )


def sample(dataset, image_size=None, bad_samples="error", n=SPEC_SAMPLES):
    """A seeded random sample of up to `n` samples (and SPEC_BYTES) in memory: a streamed dataset's statistics
    and schema."""
    x, _ = first_sample(dataset, image_size, bad_samples)
    n = max(1, min(n, SPEC_BYTES // max(x.nbytes, 1)))
    if len(dataset) > n:
        # the held-out split's fixed seed: the same sample in every run
        order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SPLIT_SEED))[:n]
        dataset = torch.utils.data.Subset(dataset, sorted(order.tolist()))
    return into_memory(dataset, image_size, 0, bad_samples)


def _from_arrays(dataset):
    data, targets = getattr(dataset, "data", None), getattr(dataset, "targets", getattr(dataset, "labels", None))
    if data is None or targets is None or not hasattr(data, "shape") or len(data) != len(dataset):
        return None
    obs = torch.as_tensor(data)
    obs = obs if obs.dtype == torch.uint8 else obs.float()
    if obs.dim() == 3:  # (N, H, W) grayscale
        obs = obs.unsqueeze(1)
    elif obs.dim() == 4 and obs.shape[-1] in (1, 3, 4) and obs.shape[1] not in (1, 3, 4):  # (N, H, W, C)
        obs = obs.permute(0, 3, 1, 2).contiguous()
    first = _as_tensor(dataset[0][0])
    if first.shape != obs.shape[1:] or first.dtype != obs.dtype or not torch.equal(first, obs[0]):
        return None  # the arrays are not what the dataset yields (a transform, another layout)
    return Split(obs, _label_tensor(torch.as_tensor(targets)))


def _label_tensor(label):
    return label.float() if label.dtype.is_floating_point else label.long()


def load(
    dataset,
    test_dataset=None,
    root="~/.cache/antelope/datasets",
    label_column="label",
    objects=None,
    image_size=None,
    workers=0,
    bad_samples="error",
):
    """The train and test splits of `dataset` (a name, a path, a Dataset class or instance), read into memory."""
    opened = open_splits(dataset, test_dataset, root, label_column, objects)
    train = into_memory(opened.train, image_size, workers, bad_samples)
    test = into_memory(opened.test, image_size, workers, bad_samples)
    return Data(train, test, num_classes(opened.train, train.label))


def classifies(
    dataset,
    test_dataset=None,
    root="~/.cache/antelope/datasets",
    label_column="label",
    objects=None,
    bad_samples="error",
):
    """Whether `dataset`'s labels are classes (integers, strings, booleans) rather than regression targets (floats),
    told from its labels alone: those a table or Digits holds, else its first readable sample's. Nothing more
    is read (a sweep's default objective needs no more than this)."""
    opened = open_splits(dataset, test_dataset, root, label_column, objects, bad_samples)
    label = opened.train.label if isinstance(opened.train, Split) else first_sample(opened.train, None, bad_samples)[1]
    return not label.dtype.is_floating_point
