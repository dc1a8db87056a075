"""antelope.data.transforms: transforms built from config items (names, {Name: {args}}, dotted paths, Python objects
and classes) and their errors; Batched on a (B, C, H, W) batch: randomness per sample and from the seed alone,
deterministic steps the same as per sample; seed_for."""

import pytest
import torch
from omegaconf import OmegaConf
from torchvision.transforms import v2

from antelope import ConfigError
from antelope.data.transforms import Batched, build, sample_seed, seed_for


def _images(n=8, size=(12, 16), seed=0):
    """A float32 batch in [0, 1], (n, 3, H, W), every image different."""
    return torch.rand(n, 3, *size, generator=torch.Generator().manual_seed(seed))


def test_build_from_names_arguments_and_dotted_paths():
    assert build(None) is None and build([]) is None
    assert isinstance(build("RandomHorizontalFlip"), v2.RandomHorizontalFlip)
    crop = build({"RandomResizedCrop": {"size": 16, "scale": [0.5, 1]}})
    assert isinstance(crop, v2.RandomResizedCrop) and crop.size == (16, 16) and tuple(crop.scale) == (0.5, 1)
    assert isinstance(build("torchvision.transforms.v2.RandomVerticalFlip"), v2.RandomVerticalFlip)
    assert build({"CenterCrop": 8}).size == (8, 8)  # one argument, given positionally


def test_build_a_list_mixing_items_as_the_config_gives_them():
    items = OmegaConf.create(
        [
            "RandomHorizontalFlip",
            {"RandomResizedCrop": {"size": 16, "scale": [0.5, 1]}},
            {"Normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2]}},
        ]
    )
    composed = build(list(items))
    assert isinstance(composed, v2.Compose)
    assert [type(t) for t in composed.transforms] == [v2.RandomHorizontalFlip, v2.RandomResizedCrop, v2.Normalize]
    assert tuple(composed.transforms[1].scale) == (0.5, 1) and composed.transforms[2].std == [0.2, 0.2, 0.2]
    several = build(list(OmegaConf.create([{"Resize": 8, "CenterCrop": 4}, "RandomVerticalFlip"])))
    assert [type(t) for t in several.transforms] == [v2.Resize, v2.CenterCrop, v2.RandomVerticalFlip]  # in order


def test_build_from_python_objects_and_classes():
    jitter = v2.ColorJitter(0.4, 0.4)
    assert build(jitter) is jitter  # one object, as it is
    composed = build([jitter, v2.RandomVerticalFlip, "RandomHorizontalFlip"])  # a class: its default arguments
    assert composed.transforms[0] is jitter
    assert [type(t) for t in composed.transforms[1:]] == [v2.RandomVerticalFlip, v2.RandomHorizontalFlip]
    double = build([lambda x: x * 2])  # any callable on a tensor
    assert torch.equal(double(torch.ones(2)), torch.full((2,), 2.0))


def test_unknown_name_says_did_you_mean():
    with pytest.raises(
        ConfigError,
        match=r"unknown transform 'RandomHorizntalFlip' \(did you mean "
        r"'RandomHorizontalFlip'\?\)",
    ):
        build(["RandomHorizntalFlip"])


@pytest.mark.parametrize(
    "item, reason",
    [
        ({"RandomResizedCrop": {"sise": 16}}, "unexpected keyword argument 'sise'"),
        ({"Normalize": {"mean": [0.5]}}, "missing 1 required positional argument: 'std'"),
        ({"RandomHorizontalFlip": {"p": 2}}, "interval"),  # torchvision's ValueError
    ],
)
def test_bad_arguments_are_one_line_naming_the_transform(item, reason):
    name = next(iter(item))
    with pytest.raises(ConfigError, match=f"^transform {name} with .*{reason}") as error:
        build([item])
    assert "\n" not in str(error.value)


def test_item_recorded_from_a_python_object_asks_for_the_object_again():
    # A run records a Python object's repr; a rerun from that record cannot rebuild it from the string.
    with pytest.raises(
        ConfigError,
        match=r"'RandomHorizontalFlip\(p=0.5\)' was a transform object given from "
        r"Python.*give the object again",
    ):
        build(["RandomHorizontalFlip(p=0.5)"])


def test_batched_same_seed_same_output_other_seed_other_output():
    batched, obs = Batched(build([{"RandomResizedCrop": {"size": 8}}, {"ColorJitter": {"brightness": 0.5}}])), _images()
    assert torch.equal(batched(obs, 1), batched(obs, 1))
    assert not torch.equal(batched(obs, 1), batched(obs, 2))


def test_batched_randomness_comes_from_the_seed_alone():
    batched, obs = Batched(build(["RandomHorizontalFlip"])), _images()
    torch.manual_seed(5)
    first = batched(obs, 3)
    after = torch.rand(1)
    torch.manual_seed(99)  # another global state: the same output; the global generator is left as it was
    assert torch.equal(batched(obs, 3), first)
    torch.manual_seed(5)
    assert torch.equal(torch.rand(1), after)


def test_batched_draws_per_sample():
    image = torch.zeros(3, 6, 6)
    image[:, :, :2] = 1.0  # lit on the left: a flip lights the right
    obs = image.expand(64, -1, -1, -1).clone()
    out = Batched(v2.RandomHorizontalFlip(p=0.5))(obs, 0)
    flipped = out[:, 0, 0, -1] == 1.0
    assert torch.equal(out[flipped], obs[flipped].flip(-1)) and torch.equal(out[~flipped], obs[~flipped])
    assert 0 < int(flipped.sum()) < 64  # one draw per image, not one for the whole batch


def test_batched_deterministic_steps_equal_per_sample():
    normalize = v2.Normalize(mean=[0.5, 0.4, 0.3], std=[0.2, 0.25, 0.3])
    obs = _images()
    expected = torch.stack([normalize(x) for x in obs])
    assert torch.allclose(Batched(normalize)(obs, 0), expected)
    both = Batched(v2.Compose([v2.CenterCrop(8), normalize]))(obs, 0)  # a Compose's steps, flattened
    assert torch.allclose(both, torch.stack([normalize(v2.CenterCrop(8)(x)) for x in obs]))


def test_batched_size_changing_random_crop():
    out = Batched(build([{"RandomResizedCrop": {"size": 10}}, "RandomHorizontalFlip"]))(_images(5, (24, 32)), 7)
    assert out.shape == (5, 3, 10, 10) and out.dtype == torch.float32


def test_seed_for_is_distinct_per_key_and_stable():
    keys = [(0, 0, 0), (0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 1, 1), (2**40, 0, 3), (7, 2**32, 0), (7, 2**32, 256)]
    seeds = [seed_for(*k) for k in keys]  # (seed, epoch, position), as the replay makes them
    assert len(set(seeds)) == len(keys) and all(0 <= s < 2**63 for s in seeds)
    assert seeds == [seed_for(*k) for k in keys]
    assert len({sample_seed(seed_for(0, 1), i) for i in range(1000)}) == 1000  # one per sample of an epoch
    assert len({seed_for(0), seed_for(0, 0), seed_for(0, 0, 0), seed_for(5, 1 << 32), seed_for(5, 1 << 32, 0)}) == 5
