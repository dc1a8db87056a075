"""Generative modelling: `ml generate=true dataset=...` learns to generate the dataset's observations.

    ml generate=true dataset=Digits train_steps=3000         # the default agent as a GAN
    ml generate=true agent=GAN dataset=Digits

The model's action is a generated sample, so `spec.action` has the observations' shape and range
(antelope.data.spec.generative). At
each evaluation the model's `generate(n)` makes samples; they are saved as an image grid (or a tensor,
for non-image data) into the run's artifacts under `samples/step_<N>.png`, and judged against the test split:
by a classifier trained on the training split (antelope.train.judge: the classes they cover, the largest class's
share, the classifier's confidence, and the Fréchet distance of its features, beside the distance real data
scores), and by `eval/moment_error`, the mean absolute gap between the samples' and the test split's per-feature
mean and stddev (a rough check that cannot see collapse: one average-looking image scores well).
"""

import os
import tempfile

import torch

from ..errors import ConfigError
from . import judge

SAMPLES = 64
SAMPLE_PIXELS = 32  # the least side of a sample in the saved grid: 8x8 digits are drawn 4x


class Evaluation:
    """evaluate(step) for a generative run: the judge's metrics and eval/moment_error against the `test` split,
    the judge trained on the `train` split (`classes` of them, or None), and the samples handed to
    `save_artifact(path, folder)` (the run's)."""

    def __init__(self, model, train, test, classes, save_artifact):
        if not callable(getattr(model, "generate", None)):
            raise ConfigError(f"generate=true: {type(model).__name__} has no generate(n) method returning n samples")
        self.model, self.train, self.test, self.save_artifact = model, train, test, save_artifact
        self.judge = judge.judge_of(train.obs, train.label, classes)

    @torch.no_grad()
    def __call__(self, step):
        self.model.eval()
        try:
            samples = self.model.generate(max(SAMPLES, min(len(self.test.obs), 512)))  # (n, *obs_shape)
        finally:
            self.model.train()
        real = self.test.obs.flatten(1).float()
        fake = samples.flatten(1).float()
        error = ((fake.mean(0) - real.mean(0)).abs().mean() + (fake.std(0) - real.std(0)).abs().mean()) / 2
        self._save(samples[:SAMPLES], step)
        judged = judge.judgement(self.judge, samples, self.test.obs, self.train.obs[: len(samples)])
        return {"eval/moment_error": error.item(), **judged}

    def _save(self, samples, step):
        with tempfile.TemporaryDirectory() as folder:
            if samples.dim() == 4 and samples.shape[1] in (1, 3):  # (n, C, H, W) images
                from torchvision.utils import save_image

                low, high = self.test.obs.min(), self.test.obs.max()
                path = os.path.join(folder, f"step_{step:09d}.png")
                scale = -(-SAMPLE_PIXELS // min(samples.shape[-2:]))  # whole pixels: each sample a readable size
                grid = torch.nn.functional.interpolate(samples.float(), scale_factor=scale, mode="nearest")
                save_image(((grid - low) / (high - low).clamp(min=1e-8)).clamp(0, 1).cpu(), path, nrow=8, padding=4)
            else:
                path = os.path.join(folder, f"step_{step:09d}.pt")
                torch.save(samples.cpu(), path)
            self.save_artifact(path, "samples")
