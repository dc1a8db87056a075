"""Image augmentation, batched on the run's device: `augment=[flip,shift]`.

Each sample of a batch gets its own random draw, made in a few tensor operations where the batch is (no
per-sample Python, no collate, no host round trip), so a dataset that lives on the GPU stays there.
torchvision's batched transforms draw one set of parameters per call, the same for the whole batch, which
is why these two are written here.
"""

import torch
from torch.nn import functional

SHIFT_FRACTION = 1 / 8  # of the image's side: 4 pixels at 32x32, as the usual CIFAR recipe (RandomCrop(32, padding=4))


def flip(obs, generator):
    """Mirrors each image left-right with probability 1/2."""
    mirrored = torch.rand(len(obs), generator=generator, device=obs.device) < 0.5
    return torch.where(mirrored[:, None, None, None], obs.flip(3), obs)


def shift(obs, generator):
    """Moves each image by up to an eighth of its side in each direction: pads by repeating the border,
    then crops back to the original size at a random offset per image."""
    n, c, h, w = obs.shape
    pixels = max(1, round(min(h, w) * SHIFT_FRACTION))
    padded = functional.pad(obs, (pixels,) * 4, mode="replicate")
    offsets = torch.randint(0, 2 * pixels + 1, (n, 2, 1), generator=generator, device=obs.device)
    rows = torch.arange(h, device=obs.device) + offsets[:, 0]  # (n, h)
    columns = torch.arange(w, device=obs.device) + offsets[:, 1]  # (n, w)
    samples = torch.arange(n, device=obs.device)[:, None, None, None]
    channels = torch.arange(c, device=obs.device)[None, :, None, None]
    return padded[samples, channels, rows[:, None, :, None], columns[:, None, None, :]]


AUGMENTATIONS = {"flip": flip, "shift": shift}


def compose(names):
    """One function applying the named augmentations in order, or None for none."""
    functions = [AUGMENTATIONS[name] for name in names]
    if not functions:
        return None

    def augment(obs, generator):
        for function in functions:
            obs = function(obs, generator)
        return obs

    return augment
