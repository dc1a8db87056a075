"""Generative modelling on Digits: ours against a hand-written reference of similar size, judged alike, over seeds
(not collected by pytest).

    python tests/benchmarks/bench_generative.py            # seeds 0-2, 1000 steps (~3 min)
    options: --seeds N, --steps N

Ours: the README's `ml agent=GAN generate=true` and `ml generate=true` as written (Digits, 1,000 steps), with
`threads=1` and `keep_model=last` (the reference is judged at its end, so ours is too: the kept model, the best of
its evaluations, would flatter ours). The reference: a VAE (Kingma and Welling 2014) in cleanrl's single-file
style below, of similar size (MLP encoder 64-256-256-2x16, decoder 16-256-256-64 with a sigmoid; Adam 1e-3, batch
64, the same 1,000 steps), its samples decoded from N(0, I). Both are judged by antelope.train.judge on the same
splits with as many samples as a run's evaluation draws. torch's thread count is pinned to 1 for both.

Printed: each metric's median and min..max over seeds, and the wall seconds (ours: the whole `ml()` call, tracking
included; the reference: its training and sampling). Targets (issue 35): ours' classes covered >= the reference's
and its Fréchet distance <= the reference's (medians).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy

METRICS = ("eval/classes_covered", "eval/largest_class_share", "eval/confidence", "eval/frechet_distance")


# --- the reference, cleanrl-style ----------------------------------------------------------------------------


class VAE(nn.Module):
    def __init__(self, size=64, hidden=256, latent=16):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(
            nn.Linear(size, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent)
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, size)
        )

    def loss(self, x):
        mean, log_variance = self.encoder(x).chunk(2, dim=1)
        z = mean + torch.randn_like(mean) * (0.5 * log_variance).exp()
        reconstruction = binary_cross_entropy(self.decoder(z).sigmoid(), x, reduction="sum")
        divergence = -0.5 * (1 + log_variance - mean.pow(2) - log_variance.exp()).sum()
        return (reconstruction + divergence) / len(x)

    @torch.no_grad()
    def generate(self, n):
        return self.decoder(torch.randn(n, self.latent)).sigmoid()


def reference(train, seed, steps, samples):
    torch.manual_seed(seed)
    flat = train.flatten(1)
    model = VAE(flat.shape[1])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(steps):
        batch = flat[torch.randint(len(flat), (64,))]
        optimizer.zero_grad()
        model.loss(batch).backward()
        optimizer.step()
    return model.generate(samples).reshape(samples, *train.shape[1:])


# --- ours, through ml() --------------------------------------------------------------------------------------


def ours(agent, seed, steps):
    from antelope import ml

    overrides = dict(generate=True, seed=seed, train_steps=steps, threads=1, keep_model="last", system_metrics=False)
    if agent is not None:
        overrides["agent"] = agent
    return {name: value for name, value in ml(**overrides).metrics.items() if name in METRICS}


def _spread(values):
    return f"{statistics.median(values):.3g} ({min(values):.3g}..{max(values):.3g})"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1000)
    args = parser.parse_args()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    torch.set_num_threads(1)
    from antelope.data import as_float, load
    from antelope.train import judge
    from antelope.train.generative import SAMPLES

    data = load("Digits")
    train, test = as_float(data.train.obs), as_float(data.test.obs)
    samples = max(SAMPLES, min(len(test), 512))  # as a run's evaluation draws
    judge_of_digits = judge.judge_of(train, data.train.label, data.num_classes)
    print(f"Digits, {args.steps} steps, seeds 0-{args.seeds - 1}, torch threads pinned to 1; {samples} samples judged")
    rows = {}
    for name, agent in (("ours: GAN", "GAN"), ("ours: default agent", None), ("reference: VAE", "reference")):
        results, seconds = [], []
        for seed in range(args.seeds):
            started = time.perf_counter()
            if agent == "reference":
                generated = reference(train, seed, args.steps, samples)
                results.append(judge.judgement(judge_of_digits, generated, test, train[:samples]))
            else:
                stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # ml()'s progress lines
                try:
                    results.append(ours(agent, seed, args.steps))
                finally:
                    sys.stderr = stderr
            seconds.append(time.perf_counter() - started)
        rows[name] = (results, seconds)
        cells = [_spread([r[m] for r in results]) for m in METRICS]
        print(f"  {name:<20} " + "  ".join(f"{m.split('/')[1]} {c}" for m, c in zip(METRICS, cells, strict=True))
              + f"  wall {statistics.median(seconds):.1f} s", flush=True)  # fmt: skip
    reference_results = rows["reference: VAE"][0]
    for name in ("ours: GAN", "ours: default agent"):
        results = rows[name][0]
        covered = statistics.median(r["eval/classes_covered"] for r in results)
        distance = statistics.median(r["eval/frechet_distance"] for r in results)
        reference_covered = statistics.median(r["eval/classes_covered"] for r in reference_results)
        reference_distance = statistics.median(r["eval/frechet_distance"] for r in reference_results)
        print(
            f"{name}: classes covered {covered:g} vs {reference_covered:g} "
            f"({'met' if covered >= reference_covered else 'NOT met'}); Fréchet distance / reference = "
            f"{distance:.3g} / {reference_distance:.3g} = {distance / reference_distance:.2f} (target <= 1: "
            f"{'met' if distance <= reference_distance else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
