"""augment on its own, on tensors: each sample of a batch flipped or shifted on its own, seeded, composed in order."""

import torch
from torch.nn import functional

from antelope.data.augment import compose, flip, shift


def seeded(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=64, channels=1, side=8):
    return torch.rand(n, channels, side, side, generator=seeded(123))  # no image is its own mirror


def test_flip_mirrors_each_sample_on_its_own():
    obs = images()
    out = flip(obs, seeded())
    as_is = (out == obs).flatten(1).all(1)
    mirrored = (out == obs.flip(3)).flatten(1).all(1)
    assert (as_is ^ mirrored).all()  # every image is its input or its mirror
    assert 0 < mirrored.sum() < 64  # some flipped, some not, in one batch
    assert out.shape == obs.shape and torch.equal(obs, images())  # the input is left as it was


def test_shift_moves_each_sample_by_its_own_offset_and_keeps_the_shape():
    obs = images(channels=3)
    out = shift(obs, seeded())
    assert out.shape == obs.shape
    padded = functional.pad(obs, (1, 1, 1, 1), mode="replicate")  # 1 pixel: an eighth of 8
    crops = torch.stack([padded[..., r : r + 8, c : c + 8] for r in range(3) for c in range(3)], 1)  # (N, 9, C, H, W)
    offset = (crops == out[:, None]).flatten(2).all(2).float().argmax(1)  # which crop each output is
    assert torch.equal(crops[torch.arange(64), offset], out)  # every output is its own input, moved
    assert (offset != 4).sum() > 64 * 2 / 3  # most moved (4 is the crop that does not move; 1 in 9 draws it)
    assert len(offset.unique()) > 1  # not the same move for the whole batch


def test_compose_applies_the_named_augmentations_in_order():
    assert compose([]) is None
    obs = images()
    both = compose(["flip", "shift"])(obs, seeded())
    generator = seeded()
    assert torch.equal(both, shift(flip(obs, generator), generator))
    assert not torch.equal(both, flip(obs, seeded())) and not torch.equal(both, shift(obs, seeded()))


def test_the_same_generator_state_draws_the_same_augmentation():
    obs, augment = images(), compose(["flip", "shift"])
    assert torch.equal(augment(obs, seeded(7)), augment(obs, seeded(7)))
    assert not torch.equal(augment(obs, seeded(7)), augment(obs, seeded(8)))
    generator = seeded(7)
    augment(obs, generator)
    state = generator.get_state()  # as a checkpoint keeps it
    following = augment(obs, generator)
    assert torch.equal(augment(obs, torch.Generator().set_state(state)), following)
