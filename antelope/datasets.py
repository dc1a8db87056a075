"""Datasets by name, loaded into tensors: a training split and a test split.

`dataset=` takes
- `Digits`: scikit-learn's 8x8 handwritten digits (ships offline). It has no official split: a fixed
  20% (seeded, the same every run) is held out for testing.
- any `torchvision.datasets` class by name (`CIFAR10`, `MNIST`, ...): downloaded once into
  `dataset_root/<name>` (default `~/.cache/antelope/datasets`, or `$ANTELOPE_DATA`), its own train/test split.
- a `.csv` / `.parquet` file read with pandas: `label_column` is the label, every other column a feature.
  Integer, string or boolean labels make a classification task, float labels a regression task.
- a folder of images in class subfolders (torchvision's ImageFolder); with `train/` and `test/` (or
  `val/`) subfolders those are the splits.
- a `torch.utils.data.Dataset` class (dotted path or object; given `train=True/False` or
  `split='train'/'test'` when it takes them) or instance, yielding (x, y) pairs.
Without a test split of its own a dataset is split 80/20 with a fixed seed, unless `test_dataset=` names one.
"""
import functools
import inspect
import os
from dataclasses import dataclass
from typing import Optional

import torch

from .errors import ConfigError
from .imports import did_you_mean, import_target

TEST_FRACTION = 0.2
SPLIT_SEED = 0  # fixed: the same held-out samples in every run, whatever the run's seed
TABLE_SUFFIXES = (".csv", ".parquet", ".pq")


@dataclass
class Split:
    obs: torch.Tensor    # (N, *obs_shape) float32
    label: torch.Tensor  # (N,) int64 class or (N,)/(N, k) float32 target


@dataclass
class Data:
    train: Split
    test: Split
    num_classes: Optional[int]  # None: a regression task


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


def load(dataset, test_dataset=None, root="~/.cache/antelope/datasets", label_column="label", objects=None):
    """The train and test splits of `dataset` (a name, a path, a Dataset class or instance)."""
    objects = objects or {}
    source = objects.get("dataset", dataset)
    test_source = objects.get("test_dataset", test_dataset)
    if isinstance(source, str) and source.endswith(TABLE_SUFFIXES):
        return _table(source, test_source, label_column)
    if isinstance(source, str) and source == "Digits":
        return _digits()
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
    train_split, num_classes = _tensors(train)
    if test is None:
        return _holdout(train_split, num_classes)
    return Data(train_split, _tensors(test)[0], num_classes)


def _digits():
    return _holdout(_digits_tensors(), 10)


@functools.lru_cache(maxsize=1)
def _digits_tensors():
    """Read once per process (scikit-learn parses a compressed CSV each time); the splits index it."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    obs = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8) in [0, 1]
    return Split(obs, torch.tensor(digits.target, dtype=torch.int64))


def _holdout(split, num_classes):
    order = torch.randperm(len(split.obs), generator=torch.Generator().manual_seed(SPLIT_SEED))
    n_test = max(1, int(len(order) * TEST_FRACTION))
    test, train = order[:n_test], order[n_test:]
    return Data(Split(split.obs[train], split.label[train]), Split(split.obs[test], split.label[test]), num_classes)


def _table(path, test_path, label_column):
    train = _read_table(path, label_column)
    test = _read_table(test_path, label_column) if test_path is not None else None
    labels = train[label_column] if test is None else _concat(train[label_column], test[label_column])
    classification = not (labels.dtype.kind == "f")
    categories = sorted(labels.unique()) if classification else None

    def split(frame):
        features = frame.drop(columns=[label_column])
        text = [c for c in features.columns if features[c].dtype.kind not in "biuf"]
        if text:
            raise ConfigError(f"{path}: feature columns must be numeric; {', '.join(map(repr, text))} "
                              f"are not (the label column is {label_column!r}, see label_column=)")
        obs = torch.tensor(features.to_numpy(dtype="float32"))
        if classification:
            label = torch.tensor(frame[label_column].map({c: i for i, c in enumerate(categories)}).to_numpy("int64"))
        else:
            label = torch.tensor(frame[label_column].to_numpy("float32"))
        return Split(obs, label)

    num_classes = len(categories) if classification else None
    if test is None:
        return _holdout(split(train), num_classes)
    return Data(split(train), split(test), num_classes)


def _concat(a, b):
    import pandas

    return pandas.concat([a, b])


def _read_table(path, label_column):
    import pandas

    if not os.path.isfile(path):
        raise ConfigError(f"dataset file {path!r} does not exist")
    try:
        frame = pandas.read_csv(path) if path.endswith(".csv") else pandas.read_parquet(path)
    except Exception as error:  # pandas raises many types for a corrupt file
        raise ConfigError(f"cannot read dataset file {path!r}: {str(error).splitlines()[0]}") from None
    if label_column not in frame.columns:
        raise ConfigError(f"{path} has no label column {label_column!r}{did_you_mean(label_column, frame.columns)}; "
                          f"its columns: {', '.join(map(str, frame.columns))} (set label_column=)")
    return frame


def _dataset_class_or_folder(name, root):
    """A Dataset class (torchvision name or dotted path) or a Dataset over an image folder."""
    import torchvision

    if os.path.isdir(name):
        return _image_folder(name)
    looks_like_path = os.sep in name or name.startswith(".") or os.path.splitext(name)[1].lower() in (
        ".csv", ".parquet", ".pq", ".npz", ".npy", ".zip", ".tar", ".gz")
    if looks_like_path:
        raise ConfigError(f"dataset {name!r} does not exist: give an existing .csv/.parquet file or image folder")
    known = [n for n, v in vars(torchvision.datasets).items() if isinstance(v, type)
             and issubclass(v, torch.utils.data.Dataset) and n not in ("VisionDataset", "DatasetFolder", "ImageFolder")]
    if name in known:
        return getattr(torchvision.datasets, name)
    if "." in name and ":" not in name or ":" in name:
        cls = import_target(name)
        if isinstance(cls, type) and issubclass(cls, torch.utils.data.Dataset):
            return cls
        raise ConfigError(f"dataset={name!r} is not a torch.utils.data.Dataset class")
    raise ConfigError(f"unknown dataset {name!r}{did_you_mean(name, known + ['Digits'])}: give Digits, a "
                      f"torchvision dataset name ({', '.join(sorted(known)[:6])}, ...), a .csv/.parquet file, "
                      f"an image folder or a dotted path to a Dataset class")


def _image_folder(path):
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import ToTensor

    train_dir = os.path.join(path, "train")
    test_dir = next((os.path.join(path, n) for n in ("test", "val") if os.path.isdir(os.path.join(path, n))), None)
    if os.path.isdir(train_dir) and test_dir:
        return _Pair(ImageFolder(train_dir, transform=ToTensor()), ImageFolder(test_dir, transform=ToTensor()))
    try:
        return ImageFolder(path, transform=ToTensor())
    except (FileNotFoundError, RuntimeError) as error:
        raise ConfigError(f"image folder {path!r}: {error}") from None


class _Pair:
    """A train and a test Dataset that arrived together (an image folder with train/ and test/)."""

    def __init__(self, train, test):
        self.train, self.test = train, test


def _instantiate(cls, root):
    """(train, test) instances of a Dataset class, downloading torchvision data on first use."""
    from torchvision.transforms import ToTensor

    parameters = inspect.signature(cls).parameters
    common = {}
    if "root" in parameters:
        common["root"] = os.path.join(root, cls.__name__)
    if "transform" in parameters:
        common["transform"] = ToTensor()
    if "train" in parameters:
        splits = ({"train": True}, {"train": False})
    elif "split" in parameters:
        splits = ({"split": "train"}, {"split": "test"})
    else:
        splits = ({}, None)
    instances = []
    for split in splits:
        if split is None:
            instances.append(None)
        else:
            instances.append(_open(cls, {**common, **split}, "download" in parameters))
    return instances


def _open(cls, kwargs, downloadable):
    """An instance from the cache folder, downloading it there when it is not cached yet."""
    if not downloadable:
        return cls(**kwargs)
    try:
        return cls(**kwargs, download=False)
    except RuntimeError:
        pass  # not cached yet
    try:
        return cls(**kwargs, download=True)
    except Exception as error:
        reason = f"{type(error).__name__}: {str(error).splitlines()[0]}" if str(error) else type(error).__name__
        archive = f" ({cls.filename})" if isinstance(getattr(cls, "filename", None), str) else ""
        raise ConfigError(f"{cls.__name__} is not in {kwargs['root']} and could not be downloaded ({reason}); "
                          f"put its files{archive} there (e.g. run the same command once on a machine with "
                          f"internet and copy that folder), or set dataset_root= / ANTELOPE_DATA") from None


def _tensors(dataset):
    """(Split, num_classes) of a Dataset yielding (x, y): from its `.data`/`.targets` arrays when those
    match what it yields, else by iterating over it once."""
    if len(dataset) == 0:
        raise ConfigError(f"dataset {type(dataset).__name__} is empty")
    split = _from_arrays(dataset) or _by_iteration(dataset)
    if split.label.dtype.is_floating_point:
        return split, None
    classes = getattr(dataset, "classes", None)
    return split, len(classes) if classes else int(split.label.max()) + 1


def _from_arrays(dataset):
    data, targets = getattr(dataset, "data", None), getattr(dataset, "targets", getattr(dataset, "labels", None))
    if data is None or targets is None or not hasattr(data, "shape") or len(data) != len(dataset):
        return None
    obs = torch.as_tensor(data)
    obs = obs.float() / 255.0 if obs.dtype == torch.uint8 else obs.float()
    if obs.dim() == 3:  # (N, H, W) grayscale
        obs = obs.unsqueeze(1)
    elif obs.dim() == 4 and obs.shape[-1] in (1, 3, 4) and obs.shape[1] not in (1, 3, 4):  # (N, H, W, C)
        obs = obs.permute(0, 3, 1, 2).contiguous()
    first = _as_tensor(dataset[0][0])
    if first.shape != obs.shape[1:] or not torch.allclose(first, obs[0], atol=1e-6):
        return None  # the arrays are not what the dataset yields (a transform, another layout)
    return Split(obs, _label_tensor(torch.as_tensor(targets)))


def _by_iteration(dataset):
    samples = [dataset[i] for i in range(len(dataset))]
    try:
        obs = torch.stack([_as_tensor(x) for x, _ in samples])
    except RuntimeError as error:
        raise ConfigError(f"dataset {type(dataset).__name__}: samples differ in shape ({error}); "
                          f"resize them to one shape") from None
    except (TypeError, ValueError):
        raise ConfigError(f"dataset {type(dataset).__name__} must yield (x, y) pairs") from None
    return Split(obs, _label_tensor(torch.stack([torch.as_tensor(y) for _, y in samples])))


def _as_tensor(x):
    from PIL.Image import Image

    if isinstance(x, Image):
        from torchvision.transforms.functional import pil_to_tensor

        return pil_to_tensor(x).float() / 255.0
    return torch.as_tensor(x).float()


def _label_tensor(label):
    return label.float() if label.dtype.is_floating_point else label.long()
