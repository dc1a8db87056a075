"""A judge of generated samples, as FID judges images with Inception features: a small classifier trained on the
dataset's training split (once per process and dataset), whose view of the samples tells what a per-pixel
comparison cannot, such as every sample being the same average-looking digit:

- eval/classes_covered: how many classes hold at least a quarter of their fair share of the samples
  (n / (4 * classes)): all of them for samples that cover the data, one for a collapsed generator;
- eval/largest_class_share: the share of the samples in the most frequent class (1 / classes when even);
- eval/confidence: the classifier's mean probability of the class it picks (sharp, recognisable samples score high);
- eval/frechet_distance: the Fréchet distance between Gaussians fitted to the classifier's penultimate features of
  the samples and of the test split (lower is better), and eval/frechet_distance_real_data the same for as many
  real training samples: the figure real data scores, drawn beside it.
Data without classes (a regression table) gets the two distances only, over a fixed random projection of the
samples instead of a classifier's features.
"""

import hashlib

import torch
from torch import nn
from torch.nn.functional import cross_entropy

FEATURES = 64  # the width of the features the distance compares
STEPS, BATCH, LR = 600, 128, 1e-3  # the classifier's training: ~50 passes over Digits, seconds on a CPU
FAIR_SHARE = 0.25  # a class is covered from this fraction of its fair share of the samples


class Judge:
    """features(x) -> (n, FEATURES): a classifier's penultimate layer, or a fixed random projection without
    classes; probabilities(x) -> (n, classes), or None without classes."""

    def __init__(self, network=None, projection=None):
        self.network, self.projection = network, projection

    @torch.no_grad()
    def features(self, x):
        flat = x.flatten(1).float().cpu()
        return flat @ self.projection if self.network is None else self.network[:-1](flat)

    @torch.no_grad()
    def probabilities(self, x):
        return None if self.network is None else self.network(x.flatten(1).float().cpu()).softmax(-1)


_JUDGES: dict = {}  # {the training split's digest: its Judge}; a sweep worker judges one dataset, trial after trial
KEPT = 4


def judge_of(obs, label, classes):
    """The Judge of a training split (obs (N, ...), label (N,); `classes` None without classes), trained once per
    process and content."""
    digest = hashlib.blake2b(obs.contiguous().cpu().numpy().tobytes(), digest_size=16)
    digest.update(label.contiguous().cpu().numpy().tobytes())
    key = (digest.hexdigest(), classes)
    if key not in _JUDGES:
        _JUDGES[key] = _train(obs, label, classes)
        while len(_JUDGES) > KEPT:
            _JUDGES.pop(next(iter(_JUDGES)))  # the oldest
    return _JUDGES[key]


def _train(obs, label, classes):
    inputs = obs[0].numel()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the same judge for every run of a dataset: runs are compared by its figures
        if classes is None:
            return Judge(projection=torch.randn(inputs, FEATURES) / inputs**0.5)
        network = nn.Sequential(
            nn.Linear(inputs, 256), nn.ReLU(), nn.Linear(256, FEATURES), nn.ReLU(), nn.Linear(FEATURES, classes)
        )
        flat, target = obs.flatten(1).float().cpu(), label.cpu()
        optimizer = torch.optim.Adam(network.parameters(), lr=LR)
        for _ in range(STEPS):
            index = torch.randint(len(flat), (BATCH,))
            optimizer.zero_grad()
            cross_entropy(network(flat[index]), target[index]).backward()
            optimizer.step()
    network.eval()
    return Judge(network=network)


def frechet_distance(a, b):
    """The Fréchet distance between Gaussians fitted to feature sets a (n, d) and b (m, d)."""
    import warnings

    import numpy as np
    from scipy import linalg

    a, b = a.double().cpu().numpy(), b.double().cpu().numpy()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = _covariance(a), _covariance(b)
    with warnings.catch_warnings():  # a collapsed generator's covariance is singular: handled below, as FID does
        warnings.simplefilter("ignore")
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():
            offset = np.eye(len(cov_a)) * 1e-6
            root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    return float(((mean_a - mean_b) ** 2).sum() + (cov_a + cov_b - 2 * np.real(root)).trace())


def _covariance(x):
    import numpy as np

    return np.atleast_2d(np.cov(x, rowvar=False))


def judgement(judge, samples, test, real):
    """The metrics above for `samples` (n, ...) against the `test` split's observations, with `real` training
    samples (as many) for the real data's own distance."""
    test_features = judge.features(test)
    metrics = {
        "eval/frechet_distance": frechet_distance(judge.features(samples), test_features),
        "eval/frechet_distance_real_data": frechet_distance(judge.features(real), test_features),
    }
    probabilities = judge.probabilities(samples)
    if probabilities is not None:
        classes = probabilities.shape[1]
        counts = torch.bincount(probabilities.argmax(1), minlength=classes).float()
        fair = len(samples) / classes
        metrics["eval/classes_covered"] = float((counts >= FAIR_SHARE * fair).sum())
        metrics["eval/largest_class_share"] = float(counts.max() / len(samples))
        metrics["eval/confidence"] = float(probabilities.max(1).values.mean())
    return metrics
