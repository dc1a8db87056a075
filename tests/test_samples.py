"""antelope.data.samples: each sample read as the runs read it (uint8 CHW images, image_size= resizing, seeded
transforms), unreadable samples named in one line or skipped and counted, into_memory (worker processes,
arrays, uint8 kept), nbytes, sample, and a data loading worker that dies."""

import os
import signal

import numpy as np
import psutil
import pytest
import torch
from PIL import Image
from torchvision.datasets import ImageFolder
from torchvision.transforms import v2

from antelope import ConfigError
from antelope.data import load
from antelope.data.datasets import Split, read_image
from antelope.data.samples import Failure, Reader, Samples, collate, into_memory, nbytes, sample, worker_died
from antelope.data.transforms import sample_seed
from antelope.errors import TrainingError


class Items(torch.utils.data.Dataset):
    """A Dataset of the given (x, y) pairs."""

    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


class Broken(Items):
    """Raises for the samples in `bad`."""

    def __init__(self, items, bad):
        super().__init__(items)
        self.bad = bad

    def __getitem__(self, index):
        if index in self.bad:
            raise ValueError("no sample here\nsecond line")
        return super().__getitem__(index)


def _image(height, width, seed=0, mode="RGB"):
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels).convert(mode)


def _folder(root, sizes_per_class, suffix="png"):
    """An image folder: one class subfolder per entry of `sizes_per_class`, one image per (h, w) in it; the
    classes from dark to light."""
    for label, sizes in enumerate(sizes_per_class):
        (root / f"class{label}").mkdir(parents=True)
        for i, (height, width) in enumerate(sizes):
            pixels = np.full((height, width, 3), 40 + 80 * label, dtype=np.uint8)
            Image.fromarray(pixels).save(root / f"class{label}" / f"{i:03}.{suffix}")
    return ImageFolder(str(root), loader=read_image)


def _corrupt(path):
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 300, dtype=np.uint8).tobytes())


def test_pil_images_become_uint8_chw():
    samples = Samples(Items([(_image(20, 40), 1), (_image(6, 5, mode="L"), 0)]))
    index, x, y = samples[0]
    assert (index, x.shape, x.dtype, int(y)) == (0, (3, 20, 40), torch.uint8, 1)
    assert torch.equal(x, torch.tensor(np.asarray(_image(20, 40))).permute(2, 0, 1))
    assert samples[1][1].shape == (1, 6, 5) and samples[1][1].dtype == torch.uint8  # grayscale: one channel
    assert Samples(Items([(np.ones(3), 0.5)]))[0][1].dtype == torch.float32  # other data: float32


def test_image_size_int_scales_the_shorter_side_and_crops_the_centre():
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)
    pixels[:, :8, 0] = 255  # red on the left
    pixels[:, 8:32, 1] = 255  # green in the middle (the centre 20x20 and a margin)
    pixels[:, 32:, 2] = 255  # blue on the right
    _, x, _ = Samples(Items([(Image.fromarray(pixels), 0)]), image_size=10)[0]
    assert x.shape == (3, 10, 10) and x.dtype == torch.uint8
    assert x[1].float().mean() > 250 and x[0].float().mean() < 5 and x[2].float().mean() < 5  # the green centre
    _, x, _ = Samples(Items([(_image(40, 20), 0)]), image_size=10)[0]  # portrait: the height is cropped
    assert x.shape == (3, 10, 10)


def test_image_size_height_width_resizes_to_both():
    pil, tensor, vector = _image(20, 40), torch.zeros(3, 20, 40, dtype=torch.uint8), torch.ones(5)
    samples = Samples(Items([(pil, 0), (tensor, 0), (vector, 0)]), image_size=[8, 12])
    assert samples[0][1].shape == (3, 8, 12) and samples[0][1].dtype == torch.uint8
    assert samples[1][1].shape == (3, 8, 12) and samples[1][1].dtype == torch.uint8  # a (C, H, W) tensor too
    assert torch.equal(samples[2][1], vector)  # not an image: as it is


def test_transform_sees_float_in_0_1_and_draws_from_the_key_alone():
    seen = []

    def check(x):
        seen.append((x.dtype, float(x.min()), float(x.max())))
        return x

    Samples(Items([(_image(8, 8), 0)]), transform=check)[0]
    assert seen[0][0] == torch.float32 and 0 <= seen[0][1] and seen[0][2] <= 1 and seen[0][2] > 0.9
    samples = Samples(
        Items([(_image(16, 16, seed=i), 0) for i in range(6)]),
        transform=v2.Compose([v2.RandomResizedCrop(8), v2.RandomHorizontalFlip()]),
    )
    keys = [(i, sample_seed(123, i)) for i in range(6)]
    forward = {key: samples[key][1] for key in keys}
    backward = {key: samples[key][1] for key in reversed(keys)}
    assert all(torch.equal(forward[key], backward[key]) for key in keys)  # whichever order they are read in
    assert not torch.equal(samples[(0, 1)][1], samples[(0, 2)][1])  # another seed, another draw


def test_getitem_that_raises_is_a_failure_then_one_line_naming_the_sample():
    dataset = Broken([(torch.ones(2), 0)] * 5, bad={3})
    samples = Samples(dataset)
    failure = samples[3]
    assert failure == Failure(3, "sample 3 of Broken", "ValueError: no sample here")
    batch = collate([samples[i] for i in range(5)])
    assert batch.indices.tolist() == [0, 1, 2, 4] and batch.failures == (failure,)
    with pytest.raises(
        ConfigError,
        match=r"^dataset Broken: sample 3 of Broken cannot be read: ValueError: "
        r"no sample here .*bad_samples=skip",
    ) as error:
        Reader(dataset).check(batch)
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="sample 3 of Broken cannot be read"):
        into_memory(dataset)


def test_image_folder_failure_names_the_file(workdir):
    class Failing(ImageFolder):
        def __getitem__(self, index):
            raise OSError("disk error")

    _folder(workdir / "images", [[(8, 8)] * 2])
    failure = Samples(Failing(str(workdir / "images")))[1]
    assert failure.place == f"sample 1 ({workdir / 'images' / 'class0' / '001.png'})"


def test_corrupt_jpeg_is_named(workdir):
    _folder(workdir / "photos", [[(8, 8)] * 4, [(8, 8)] * 4], suffix="jpg")
    _corrupt(workdir / "photos" / "class1" / "x.jpg")
    with pytest.raises(
        ConfigError,
        match=r"sample \d+ \(.*photos/class1/x\.jpg\) cannot be read: "
        r"UnidentifiedImageError",
    ):
        load("photos")


def test_bad_samples_skip_counts_and_leaves_them_out(workdir):
    _folder(workdir / "images", [[(8, 8)] * 5, [(8, 8)] * 5])
    _corrupt(workdir / "images" / "class0" / "000_bad.png")  # the first sample: the shape comes from the next
    _corrupt(workdir / "images" / "class1" / "x.png")
    dataset = ImageFolder(str(workdir / "images"), loader=read_image)
    reported = []
    split = into_memory(dataset, bad_samples="skip", report=reported.append)
    assert len(dataset) == 12 and len(split) == 10 and reported == [2]
    assert split.label.tolist() == [0] * 5 + [1] * 5 and split.obs.dtype == torch.uint8
    with pytest.raises(ConfigError, match="000_bad.png"):
        into_memory(dataset)


def test_images_of_different_sizes_need_image_size(workdir):
    dataset = _folder(workdir / "images", [[(8, 8), (8, 8)], [(10, 12)]])
    with pytest.raises(ConfigError, match=r"has shape \(3, 10, 12\), the first sample \(3, 8, 8\).*give image_size="):
        into_memory(dataset)
    assert into_memory(dataset, image_size=6).obs.shape == (3, 3, 6, 6)


def test_into_memory_with_workers_equals_without(workdir):
    sizes = [(8 + i, 12 - i) for i in range(6)]
    dataset = _folder(workdir / "images", [sizes, sizes, sizes])
    in_process, by_workers = into_memory(dataset, image_size=8), into_memory(dataset, image_size=8, workers=2)
    assert in_process.obs.shape == (18, 3, 8, 8) and in_process.obs.dtype == torch.uint8
    assert torch.equal(in_process.obs, by_workers.obs) and torch.equal(in_process.label, by_workers.label)
    assert in_process.label.dtype == torch.int64 and in_process.label.tolist() == [0] * 6 + [1] * 6 + [2] * 6


class Counting(torch.utils.data.Dataset):
    """Like torchvision's CIFAR10: `.data` (N, H, W, C) uint8 and `.targets`; each sample a PIL image."""

    def __init__(self, n=50):
        self.data = np.random.default_rng(0).integers(0, 256, (n, 6, 5, 3), dtype=np.uint8)
        self.targets = [i % 3 for i in range(n)]
        self.calls = 0

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        self.calls += 1
        return Image.fromarray(self.data[index]), self.targets[index]


def test_dataset_with_arrays_is_read_from_them():
    dataset = Counting()
    split = into_memory(dataset)
    assert dataset.calls <= 2  # a look at the first sample, not a read of every one
    assert split.obs.shape == (50, 3, 6, 5) and split.obs.dtype == torch.uint8
    assert torch.equal(split.obs, torch.as_tensor(dataset.data).permute(0, 3, 1, 2))
    assert split.label.tolist() == dataset.targets and split.label.dtype == torch.int64


def test_nbytes(workdir):
    dataset = _folder(workdir / "images", [[(8, 10)] * 3, [(8, 10)] * 4])
    assert nbytes(dataset) == 7 * (3 * 8 * 10 + 8)  # uint8 pixels and an int64 label
    assert nbytes(dataset, image_size=4) == 7 * (3 * 4 * 4 + 8)
    split = Split(torch.zeros(5, 4), torch.zeros(5, dtype=torch.long))
    assert nbytes(split) == 5 * 4 * 4 + 5 * 8


def test_sample_is_at_most_n_and_the_same_every_call():
    dataset = Items([(torch.full((2,), float(i)), i) for i in range(30)])
    first, second = sample(dataset, n=10), sample(dataset, n=10)
    assert len(first) == 10 and len(set(first.label.tolist())) == 10
    assert torch.equal(first.obs, second.obs) and torch.equal(first.label, second.label)
    assert len(sample(dataset, n=100)) == 30


def test_worker_died_is_one_line_other_errors_as_they_are():
    died = worker_died(RuntimeError("DataLoader worker (pid 123) is killed by signal: Killed. \nmore"))
    assert isinstance(died, TrainingError) and "\n" not in str(died)
    assert "data loading worker process died: DataLoader worker (pid 123) is killed by signal: Killed." in str(died)
    for error in (
        RuntimeError("Caught ValueError in DataLoader worker process 0."),  # the user's error, re-raised
        RuntimeError(""),
        RuntimeError("CUDA out of memory"),
    ):
        assert worker_died(error) is error


class Killing(Items):
    """Kills the process that reads sample `fatal`, when that is not the one that made the dataset."""

    def __init__(self, items, fatal):
        super().__init__(items)
        self.fatal, self.parent = fatal, os.getpid()

    def __getitem__(self, index):
        if index == self.fatal and os.getpid() != self.parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__getitem__(index)


def test_a_worker_killed_is_a_training_error_and_leaves_no_process():
    dataset = Killing([(torch.ones(3), 0)] * 20, fatal=5)
    before = set(psutil.Process().children(recursive=True))  # other tests' helpers (a resource tracker) stay
    with pytest.raises(TrainingError, match=r"data loading worker process died: DataLoader worker \(pid") as error:
        into_memory(dataset, workers=1)
    assert "\n" not in str(error.value)
    _, alive = psutil.wait_procs(set(psutil.Process().children(recursive=True)) - before, timeout=10)
    assert alive == []
