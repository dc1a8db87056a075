"""Datasets by name: opened as a training and a test split, read into memory or streamed (antelope.data.stream).

`dataset=` takes
- `Digits`: scikit-learn's 8x8 handwritten digits (ships offline). It has no official split: a fixed
  20% (seeded, the same every run) is held out for testing.
- any `torchvision.datasets` class by name (`CIFAR10`, `MNIST`, `ImageNet`, ...): downloaded once into
  `dataset_root/<name>` (default `~/.cache/antelope/datasets`, or `$ANTELOPE_DATA`), its own train/test
  (or train/val) split; one that cannot be downloaded (ImageNet) is read from the files put there.
- a `.csv` / `.parquet` file read with pandas (antelope.data.tables): `label_column` is the label, every other
  column a feature.
  Integer, string or boolean labels make a classification task, float labels a regression task.
- a folder of images (JPEG, PNG, ...) in class subfolders; with `train/` and `test/` (or `val/`)
  subfolders those are the splits. Images of different sizes need `image_size=`.
- a `torch.utils.data.Dataset` class (dotted path or object; given `train=True/False` or
  `split='train'/'test'` when it takes them) or instance, yielding (x, y) pairs.
Without a test split of its own a dataset is split 80/20 with a fixed seed, unless `test_dataset=` names one.

Opening a dataset reads nothing but tables and Digits; antelope.data.samples reads the samples, into memory
or streamed.
"""

import functools
import inspect
import os
from dataclasses import dataclass
from typing import Optional

import torch

from ..errors import ConfigError
from ..imports import did_you_mean, import_target
from . import tables

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # fixed: the same held-out samples in every run, whatever the run's seed
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


def unused_keys(source):
    """The data keys that `source` (dataset=, a name, a path or an object) leaves unused: label_column unless
    it is a table, dataset_root unless it is a torchvision dataset (downloaded there)."""
    table = isinstance(source, str) and source.endswith(TABLE_SUFFIXES)
    downloaded = isinstance(source, str) and not table and source != "Digits" and not os.path.isdir(source)
    return tuple(key for key, used in (("label_column", table), ("dataset_root", downloaded)) if not used)


@dataclass
class Split:
    """A split held in memory, itself a Dataset of (x, y)."""

    obs: torch.Tensor  # (N, *obs_shape) float32, or uint8 pixels (N, C, H, W)
    label: torch.Tensor  # (N,) int64 class or (N,)/(N, k) float32 target

    def __len__(self):
        return len(self.obs)

    def __getitem__(self, index):
        return self.obs[index], self.label[index]


@dataclass
class Data:
    train: object  # a Split in memory, or a Dataset to stream
    test: object
    num_classes: Optional[int]  # None: a regression task
    skipped: int = 0  # rows left out while reading (a table's, with bad_samples=skip)


def as_float(obs):
    """Batches as the model sees them: uint8 pixels as float32 in [0, 1], other data as it is."""
    return obs.float().div_(255) if obs.dtype == torch.uint8 else obs


def digest(split):
    """A short digest of a split's content, obs and labels with their shapes: runs on two versions of a
    file tell them apart (an MLflow dataset input's digest)."""
    import hashlib

    hashed = hashlib.blake2b(digest_size=8)
    for tensor in (split.obs, split.label):
        tensor = tensor.detach().cpu().contiguous()
        hashed.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
        hashed.update(tensor.view(-1).view(torch.uint8).numpy())  # hashed in place: no copy of the data
    return hashed.hexdigest()


def fingerprint(dataset, sample):
    """A streamed split's digest, without reading it: its type and length, its files and their classes when
    it has them (an image folder), and the content of `sample`, some of its samples in memory."""
    import hashlib

    hashed = hashlib.blake2b(digest_size=8)
    hashed.update(f"{name_of(dataset)}{len(dataset)}".encode())
    inner, indices = dataset, list(range(len(dataset)))
    while isinstance(inner, torch.utils.data.Subset):
        indices = [inner.indices[i] for i in indices]
        inner = inner.dataset
    files = getattr(inner, "samples", None)
    if isinstance(files, list):
        hashed.update("\n".join(f"{files[i][0]}\0{files[i][1]}" for i in indices).encode())
    hashed.update(digest(sample).encode())
    return hashed.hexdigest()


def open_splits(
    dataset,
    test_dataset=None,
    root="~/.cache/antelope/datasets",
    label_column="label",
    objects=None,
    bad_samples="error",
):
    """Data whose splits are opened but not read (tables and Digits, read whole, are Splits already);
    num_classes is left None for `num_classes()` to tell once labels are known."""
    objects = objects or {}
    source = objects.get("dataset", dataset)
    test_source = objects.get("test_dataset", test_dataset)
    if isinstance(source, str) and source.endswith(TABLE_SUFFIXES):
        train, test, classes, skipped = tables.read(source, test_source, label_column, bad_samples)
        data = _holdout(Split(*train), classes) if test is None else Data(Split(*train), Split(*test), classes)
        data.skipped = skipped
        return data
    if isinstance(source, str) and source == "Digits":
        return _holdout(_digits_tensors(), 10)
    root = os.path.expanduser(root)
    if isinstance(source, str):
        source = _dataset_class_or_folder(source, root)
    if isinstance(source, _Pair):
        train, test = source.train, source.test
    elif isinstance(source, type):
        train, test = _instantiate(source, root)
    else:
        train, test = source, None
    if test_source is not None:
        test = _dataset_class_or_folder(test_source, root) if isinstance(test_source, str) else test_source
        if isinstance(test, type):
            test = _instantiate(test, root)[0]
        elif isinstance(test, _Pair):
            test = test.train
    if len(train) == 0:
        raise ConfigError(f"dataset {name_of(train)} is empty")
    if test is None:
        return _holdout(train, None)
    return Data(train, test, None)


def num_classes(dataset, labels):
    """The dataset's classes (its `classes`, else the largest label + 1), or None for float labels (regression)."""
    if labels.dtype.is_floating_point:
        return None
    classes = getattr(dataset, "classes", None)
    if classes is None and isinstance(dataset, torch.utils.data.Subset):
        classes = getattr(dataset.dataset, "classes", None)
    if isinstance(classes, int):
        return classes
    return len(classes) if classes else int(labels.max()) + 1


@functools.lru_cache(maxsize=1)
def _digits_tensors():
    """Read once per process from the CSV scikit-learn ships (sklearn/datasets/data/digits.csv.gz, the file its
    load_digits parses), found without importing scikit-learn, whose import takes longer than a short run:
    tests/test_datasets.py checks the result against load_digits()."""
    import gzip
    import importlib.util

    import numpy as np

    spec = importlib.util.find_spec("sklearn")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("dataset=Digits is read from scikit-learn's bundled copy: pip install scikit-learn")
    path = os.path.join(spec.submodule_search_locations[0], "datasets", "data", "digits.csv.gz")
    with gzip.open(path) as file:
        table = np.loadtxt(file, delimiter=",", dtype=np.float32)  # 64 pixels (0-16), then the digit
    obs = torch.from_numpy(table[:, :-1]).reshape(-1, 1, 8, 8) / 16.0  # (N, 1, 8, 8) in [0, 1]
    return Split(obs, torch.from_numpy(table[:, -1].astype(np.int64)))


def _holdout(dataset, classes):
    """A fixed TEST_FRACTION of the samples held out for testing: indexed in memory, or Subsets of a Dataset."""
    order = torch.randperm(len(dataset), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = max(1, int(len(order) * TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    if isinstance(dataset, Split):
        return Data(
            Split(dataset.obs[train], dataset.label[train]), Split(dataset.obs[test], dataset.label[test]), classes
        )
    subset = torch.utils.data.Subset
    return Data(subset(dataset, train.tolist()), subset(dataset, test.tolist()), classes)


def _dataset_class_or_folder(name, root):
    """A Dataset class (torchvision name or dotted path) or a Dataset over an image folder."""
    import torchvision

    if os.path.isdir(name):
        return _image_folder(name)
    looks_like_path = (
        os.sep in name
        or name.startswith(".")
        or os.path.splitext(name)[1].lower() in (".csv", ".parquet", ".pq", ".npz", ".npy", ".zip", ".tar", ".gz")
    )
    if looks_like_path:
        raise ConfigError(f"dataset {name!r} does not exist: give an existing .csv/.parquet file or image folder")
    known = [
        n
        for n, v in vars(torchvision.datasets).items()
        if isinstance(v, type)
        and issubclass(v, torch.utils.data.Dataset)
        and n not in ("VisionDataset", "DatasetFolder", "ImageFolder")
    ]
    if name in known:
        return getattr(torchvision.datasets, name)
    if "." in name and ":" not in name or ":" in name:
        cls = import_target(name)
        if isinstance(cls, type) and issubclass(cls, torch.utils.data.Dataset):
            return cls
        raise ConfigError(f"dataset={name!r} is not a torch.utils.data.Dataset class")
    raise ConfigError(
        f"unknown dataset {name!r}{did_you_mean(name, known + ['Digits'])}: give Digits, a "
        f"torchvision dataset name ({', '.join(sorted(known)[:6])}, ...), a .csv/.parquet file, "
        f"an image folder or a dotted path to a Dataset class"
    )


def read_image(path):
    """An image file opened by PIL (JPEG, PNG, WebP, BMP, TIFF, ...), decoded when first used: a JPEG read
    at a smaller `image_size=` is decoded at a reduced scale (antelope.data.samples)."""
    from PIL import Image

    return Image.open(path)


def _image_folder(path):
    from torchvision.datasets import ImageFolder

    train_dir = os.path.join(path, "train")
    test_dir = next((os.path.join(path, n) for n in ("test", "val") if os.path.isdir(os.path.join(path, n))), None)
    try:
        if os.path.isdir(train_dir) and test_dir:
            return _Pair(ImageFolder(train_dir, loader=read_image), ImageFolder(test_dir, loader=read_image))
        return ImageFolder(path, loader=read_image)
    except (FileNotFoundError, RuntimeError) as error:
        raise ConfigError(f"image folder {path!r}: {error}") from None


class _Pair:
    """A train and a test Dataset that arrived together (an image folder with train/ and test/)."""

    def __init__(self, train, test):
        self.train, self.test = train, test


def _instantiate(cls, root):
    """(train, test) instances of a Dataset class, downloading torchvision data on first use."""
    from torchvision.datasets import DatasetFolder

    parameters = inspect.signature(cls).parameters
    common = {}
    if "root" in parameters:
        common["root"] = os.path.join(root, cls.__name__)
    if issubclass(cls, DatasetFolder):  # ImageNet and its kin: files decoded as tensors, not PIL images
        common["loader"] = read_image
    splits: tuple = ({}, None)
    if "train" in parameters:
        splits = ({"train": True}, {"train": False})
    elif "split" in parameters:
        splits = ({"split": "train"}, {"split": "test"}, {"split": "val"})
    downloadable = "download" in parameters
    train = _open(cls, {**common, **splits[0]}, downloadable)
    if splits[1] is None:
        return train, None
    try:
        return train, _open(cls, {**common, **splits[1]}, downloadable)
    except ValueError:  # split='test' is not one of its splits (ImageNet has train and val)
        if len(splits) < 3:
            raise
        return train, _open(cls, {**common, **splits[2]}, downloadable)


def _open(cls, kwargs, downloadable):
    """An instance from the cache folder, downloading it there when it is not cached yet."""
    if not downloadable:
        try:
            return cls(**kwargs)
        except (FileNotFoundError, RuntimeError) as error:
            where = f" in {kwargs['root']}" if "root" in kwargs else ""
            raise ConfigError(f"{cls.__name__} cannot be read{where}: {str(error).splitlines()[0]}") from None
    try:
        return cls(**kwargs, download=False)
    except RuntimeError:
        pass  # not cached yet
    try:
        return cls(**kwargs, download=True)
    except Exception as error:
        reason = f"{type(error).__name__}: {str(error).splitlines()[0]}" if str(error) else type(error).__name__
        archive = f" ({cls.filename})" if isinstance(getattr(cls, "filename", None), str) else ""
        raise ConfigError(
            f"{cls.__name__} is not in {kwargs['root']} and could not be downloaded ({reason}); "
            f"put its files{archive} there (e.g. run the same command once on a machine with "
            f"internet and copy that folder), or set dataset_root= / ANTELOPE_DATA"
        ) from None


def name_of(dataset):
    """The class name of a dataset (of the one a Subset takes from)."""
    inner = dataset.dataset if isinstance(dataset, torch.utils.data.Subset) else dataset
    return type(inner).__name__
