"""Datasets by name and by path, through ml(): tables, image folders, torchvision, user Datasets."""
import numpy as np
import pandas as pd
import pytest
import torch
from conftest import runs
from models import Model
from PIL import Image

from antelope import ConfigError, ml
from antelope.agents import MLP

FAST = dict(train_steps=40, evaluate_per_steps=0)


def test_csv_with_string_labels_is_classification(workdir):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["kind"] = np.where(x[:, 0] + x[:, 1] > 0, "up", "down")
    frame.to_csv(workdir / "points.csv", index=False)
    result = ml(model=Model, dataset="points.csv", label_column="kind", **FAST, lr=1e-2)
    assert result.metrics["eval/accuracy"] > 0.8
    assert result.model.MLP[-1].out_features == 2
    assert runs("points")["status"][0] == "FINISHED"  # experiment named after the file


def test_parquet_with_float_labels_is_regression(workdir):
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame
    data.rename(columns={"target": "label"}).to_parquet(workdir / "diabetes.parquet")
    result = ml(model=MLP, dataset="diabetes.parquet", train_steps=300, lr=1e-2)
    assert set(result.metrics) == {"eval/mse"}
    test_var = data["target"].var()
    assert result.metrics["eval/mse"] < 0.8 * test_var  # better than predicting the mean


def test_table_errors_name_the_column(workdir):
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_csv(workdir / "t.csv", index=False)
    with pytest.raises(ConfigError, match="no label column 'label'.*its columns: x, y"):
        ml(model=Model, dataset="t.csv")
    with pytest.raises(ConfigError, match="does not exist"):
        ml(model=Model, dataset="nope.csv")


def _write_images(folder, n, size=8):
    rng = np.random.default_rng(len(str(folder)))
    for name, brightness in (("dark", 40), ("light", 210)):
        (folder / name).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(rng.normal(brightness, 20, size=(size, size, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / name / f"{i}.png")


def test_image_folder_with_and_without_splits(workdir):
    _write_images(workdir / "flat", 20)
    result = ml(model=Model, dataset="flat", **FAST, lr=1e-2)
    assert result.model.MLP[1].in_features == 3 * 8 * 8 and result.metrics["eval/accuracy"] > 0.9
    _write_images(workdir / "split" / "train", 20)
    _write_images(workdir / "split" / "test", 5)
    result = ml(model=Model, dataset="split", **FAST, lr=1e-2)
    assert result.metrics["eval/accuracy"] > 0.9


class Squares(torch.utils.data.Dataset):
    """A user Dataset: the label says whether x[0] > 0."""

    def __init__(self, train=True):
        generator = torch.Generator().manual_seed(0 if train else 1)
        self.x = torch.randn(200, 5, generator=generator)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], int(self.x[i, 0] > 0)


def test_user_dataset_class_and_instance():
    result = ml(model=Model, dataset=Squares, **FAST, lr=1e-2)
    assert result.metrics["eval/accuracy"] > 0.8
    result = ml(model=Model, dataset=Squares(), test_dataset=Squares(train=False), **FAST, lr=1e-2)
    assert result.metrics["eval/accuracy"] > 0.8
    result = ml(model=Model, dataset="test_datasets.Squares", **FAST, lr=1e-2)  # dotted path
    assert result.metrics["eval/accuracy"] > 0.8


def _write_idx(path, array):
    """MNIST's idx format: a magic number naming the type and rank, the sizes, then the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    path.write_bytes(header + array.astype("uint8").tobytes())


def test_torchvision_dataset_by_name_from_the_cache_folder(workdir):
    # Fake MNIST files (tiny, made here): torchvision reads idx files from the cache and needs no checksum.
    raw = workdir / "datasets" / "MNIST" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 120), ("t10k", 40)):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 28, 28))
        for image, label in zip(images, labels):
            image[2 * label:2 * label + 2] = 255  # the lit rows encode the class
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    result = ml(model=MLP, dataset="MNIST", **FAST, lr=1e-2)
    assert result.model.net[1].in_features == 28 * 28
    assert result.metrics["eval/accuracy"] > 0.5


def test_offline_uncached_torchvision_dataset_says_where_to_put_files(workdir):
    with pytest.raises(ConfigError, match="CIFAR10 is not in .*datasets/CIFAR10 and could not be downloaded.*"
                                          "cifar-10-python.tar.gz"):
        ml(model=Model, dataset="CIFAR10")
    assert runs().empty
