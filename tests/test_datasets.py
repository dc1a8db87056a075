"""antelope.datasets: datasets by name and by path (tables, image folders, torchvision, user Datasets) loaded
into train and test splits, without training. One table run goes through ml() to its experiment."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import runs
from models import Model
from PIL import Image

from antelope import ConfigError, ml
from antelope.data import load

FAST = dict(train_steps=40, evaluate_per_steps=0)


def test_csv_with_string_labels_is_classification(workdir):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 4))
    frame = pd.DataFrame(x, columns=["a", "b", "c", "d"])
    frame["kind"] = np.where(x[:, 0] + x[:, 1] > 0, "up", "down")
    frame.to_csv(workdir / "points.csv", index=False)
    data = load("points.csv", label_column="kind")
    assert data.num_classes == 2 and data.train.obs.shape == (240, 4) and len(data.test.obs) == 60  # 20% held out
    assert data.train.label.dtype == torch.int64 and set(data.train.label.tolist()) == {0, 1}  # 'down', 'up'
    up = torch.tensor(x[:, 0] + x[:, 1] > 0)
    first = torch.tensor(frame.drop(columns="kind").to_numpy("float32"))
    index = (data.train.obs[:, None] == first[None]).all(-1).float().argmax(1)  # each row's place in the file
    assert torch.equal(data.train.label.bool(), up[index])  # labels travel with their rows, sorted: down=0, up=1
    result = ml(model=Model, dataset="points.csv", label_column="kind", **FAST, lr=1e-2)
    assert result.metrics["eval/accuracy"] > 0.8 and result.model.MLP[-1].out_features == 2
    assert runs("points")["status"][0] == "FINISHED"  # experiment named after the file


def test_parquet_with_float_labels_is_regression(workdir):
    from sklearn.datasets import load_diabetes

    data = load_diabetes(as_frame=True).frame
    data.rename(columns={"target": "label"}).to_parquet(workdir / "diabetes.parquet")
    loaded = load("diabetes.parquet")
    assert loaded.num_classes is None and loaded.train.label.dtype == torch.float32
    assert loaded.train.obs.shape[1] == 10 and len(loaded.train.obs) + len(loaded.test.obs) == len(data)
    assert sorted(torch.cat([loaded.train.label, loaded.test.label]).tolist()) == sorted(data["target"].tolist())


def test_table_errors_name_the_column(workdir):
    pd.DataFrame({"x": [1.0, 2.0], "y": [0, 1]}).to_csv(workdir / "t.csv", index=False)
    with pytest.raises(ConfigError, match="no label column 'label'.*its columns: x, y"):
        load("t.csv")
    pd.DataFrame({"x": ["a", "b"], "label": [0, 1]}).to_csv(workdir / "text.csv", index=False)
    with pytest.raises(ConfigError, match="feature columns must be numeric; 'x' are not"):
        load("text.csv")
    with pytest.raises(ConfigError, match="does not exist"):
        load("nope.csv")


def _write_images(folder, n, size=8):
    rng = np.random.default_rng(len(str(folder)))
    for name, brightness in (("dark", 40), ("light", 210)):
        (folder / name).mkdir(parents=True)
        for i in range(n):
            pixels = np.clip(rng.normal(brightness, 20, size=(size, size, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / name / f"{i}.png")


def test_image_folder_with_and_without_splits(workdir):
    _write_images(workdir / "flat", 20)
    data = load("flat")
    assert data.num_classes == 2 and data.train.obs.shape == (32, 3, 8, 8) and len(data.test.obs) == 8
    assert data.train.obs.dtype == torch.uint8  # pixels stay bytes in memory (float32 in [0, 1] per batch)
    bright = data.train.obs.float().mean((1, 2, 3)) > 127  # 'light' images are class 1 (folders in sorted order)
    assert torch.equal(bright, data.train.label.bool())
    _write_images(workdir / "split" / "train", 20)
    _write_images(workdir / "split" / "test", 5)
    data = load("split")
    assert (len(data.train.obs), len(data.test.obs)) == (40, 10)  # the folder's own splits


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
    by_class = load("x", objects={"dataset": Squares})  # given train=True / train=False
    assert torch.equal(by_class.train.obs, Squares().x) and torch.equal(by_class.test.obs, Squares(train=False).x)
    assert by_class.num_classes == 2 and torch.equal(by_class.train.label, (Squares().x[:, 0] > 0).long())
    by_instance = load("x", objects={"dataset": Squares(), "test_dataset": Squares(train=False)})
    assert torch.equal(by_instance.test.obs, by_class.test.obs)
    by_path = load("test_datasets.Squares")  # a dotted path
    assert torch.equal(by_path.train.obs, by_class.train.obs)


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
        for image, label in zip(images, labels, strict=True):
            image[2 * label : 2 * label + 2] = 255  # the lit rows encode the class
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    data = load("MNIST", root=str(workdir / "datasets"))
    assert data.train.obs.shape == (120, 1, 28, 28) and len(data.test.obs) == 40 and data.num_classes == 10
    assert data.train.obs.dtype == torch.uint8  # MNIST's bytes as they are (from its .data array)
    lit = data.train.obs[:, 0].float().mean(2).argmax(1) // 2  # the first lit row pair names the class
    assert torch.equal(lit, data.train.label)


def test_offline_uncached_torchvision_dataset_says_where_to_put_files(workdir):
    with pytest.raises(
        ConfigError, match="CIFAR10 is not in .*datasets/CIFAR10 and could not be downloaded.*cifar-10-python.tar.gz"
    ):
        load("CIFAR10", root=str(workdir / "datasets"))
    with pytest.raises(ConfigError, match=r"unknown dataset 'CIFAR1O' \(did you mean 'CIFAR10'"):
        load("CIFAR1O")


def _write_mixed_images(folder, n, suffixes=("JPEG", "png"), classes=("dark", "light")):
    """`n` images per class (dark, then light) in class subfolders, of mixed sizes, their formats in turn."""
    rng = np.random.default_rng(len(str(folder)))
    for name, level in zip(classes, (40, 210), strict=True):
        (folder / name).mkdir(parents=True)
        for i in range(n):
            height, width = rng.integers(12, 40, 2)
            pixels = np.clip(rng.normal(level, 20, size=(height, width, 3)), 0, 255).astype("uint8")
            Image.fromarray(pixels).save(folder / name / f"{i}.{suffixes[i % len(suffixes)]}")


def test_image_folder_of_mixed_sizes_and_formats_at_image_size(workdir):
    _write_mixed_images(workdir / "photos" / "train", 6)
    _write_mixed_images(workdir / "photos" / "val", 3, suffixes=("jpg", "png"))
    data = load("photos", image_size=16)
    assert data.train.obs.shape == (12, 3, 16, 16) and data.test.obs.shape == (6, 3, 16, 16)  # val/ is the test split
    assert data.train.obs.dtype == torch.uint8 and data.num_classes == 2
    for split in (data.train, data.test):
        assert torch.equal(split.obs.float().mean((1, 2, 3)) > 127, split.label.bool())  # light: class 1


def test_folder_without_class_subfolders_names_the_folder(workdir):
    (workdir / "loose").mkdir()
    for i in range(3):
        Image.fromarray(np.zeros((8, 8, 3), dtype="uint8")).save(workdir / "loose" / f"{i}.png")
    with pytest.raises(ConfigError, match=r"image folder 'loose'.*class folder"):
        load("loose")


def _fake_imagenet(root):
    """torchvision's ImageNet as it finds it once unpacked: meta.bin (wnid -> class names, the val wnids) and
    train/ and val/ folders of JPEGs by wnid; n01 (cat) dark, n02 (dog) light."""
    folder = root / "ImageNet"
    folder.mkdir(parents=True)
    torch.save(({"n01": ("cat",), "n02": ("dog",)}, ["n01"] * 3 + ["n02"] * 3), folder / "meta.bin")
    for split, n in (("train", 8), ("val", 3)):
        _write_mixed_images(folder / split, n, suffixes=("JPEG",), classes=("n01", "n02"))


def test_imagenet_read_from_its_files(workdir):
    _fake_imagenet(workdir / "data")
    data = load("ImageNet", root=str(workdir / "data"), image_size=16)
    assert data.num_classes == 2 and data.train.obs.shape == (16, 3, 16, 16) and data.test.obs.shape == (6, 3, 16, 16)
    assert data.train.obs.dtype == torch.uint8 and data.train.label.tolist() == [0] * 8 + [1] * 8
    assert torch.equal(data.test.obs.float().mean((1, 2, 3)) > 127, data.test.label.bool())


def test_imagenet_run(workdir):
    _fake_imagenet(workdir / "data")
    result = ml(
        dataset="ImageNet",
        dataset_root=str(workdir / "data"),
        image_size=16,
        train_steps=20,
        evaluate_per_steps=0,
        model=Model,
    )
    assert result.model.MLP[1].in_features == 3 * 16 * 16 and result.model.MLP[-1].out_features == 2
    assert "eval/accuracy" in result.metrics and runs("ImageNet")["status"][0] == "FINISHED"


def test_a_folder_of_colour_images_with_a_grayscale_one_reads_all_as_rgb(workdir):
    """Image files are read as RGB, as torchvision's ImageFolder reads them (ImageNet has grayscale JPEGs)."""
    for name in ("a", "b"):
        (workdir / "gray" / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(workdir / "gray" / name / f"{i}.jpg")
    Image.fromarray(np.full((20, 30), 100, np.uint8)).save(workdir / "gray" / "b" / "9.jpg")  # mode L
    data = load("gray", image_size=16)
    assert len(data.train) + len(data.test) == 11 and data.train.obs.shape[1:] == (3, 16, 16)
    assert load("gray").train.obs.shape[1:] == (3, 20, 30)


def test_digits_is_scikit_learns_copy_read_without_importing_scikit_learn():
    """Digits comes from the CSV scikit-learn ships, parsed here: the file's place is scikit-learn's own detail,
    so this checks it against load_digits(), and that reading it imports no scikit-learn."""
    import subprocess
    import sys

    from sklearn.datasets import load_digits

    from antelope.data.datasets import _digits_tensors

    digits, ours = load_digits(), _digits_tensors()
    assert torch.equal(ours.obs, torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0)
    assert torch.equal(ours.label, torch.tensor(digits.target, dtype=torch.int64))
    code = "import sys; from antelope.data import datasets; datasets._digits_tensors(); print('sklearn' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
