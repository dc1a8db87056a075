"""One torch thread against torch's default for learning steps of growing size (not collected by pytest).

    python tests/benchmarks/bench_threads.py

The measurement behind antelope.threads.SMALL_STEP_FLOPS. For MLPs from the default agent's CartPole
network up to a large one: the time of one learning step (forward, backward, Adam) on one thread and on
torch's default (all cores), first on a quiet machine, then with a busy-loop process holding one core.
Printed as `default / one thread = ratio` (below 1: the default threads are faster). The step's FLOPs are
counted as antelope.train.threads counts them (three forwards per step).
"""

import subprocess
import sys
import time

import torch
from torch import nn
from torch.nn.functional import cross_entropy

from antelope.train.threads import SMALL_STEP_FLOPS, forward_flops

CASES = [  # (inputs, width, outputs, batch)
    (4, 64, 2, 256),
    (4, 256, 2, 64),
    (64, 256, 10, 64),
    (4, 256, 2, 256),
    (64, 512, 10, 256),
    (64, 1024, 10, 256),
    (784, 1024, 10, 512),
]


def mlp(inputs, width, outputs):
    return nn.Sequential(
        nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, outputs)
    )


def step_ms(model, optimizer, x, y, threads, steps=200):
    torch.set_num_threads(threads)
    for i in range(steps // 10 + steps):
        if i == steps // 10:  # after a warm-up
            start = time.perf_counter()
        loss = cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / steps * 1e3


def table(default):
    for inputs, width, outputs, batch in CASES:
        model = mlp(inputs, width, outputs)
        optimizer = torch.optim.Adam(model.parameters())
        x, y = torch.randn(batch, inputs), torch.randint(outputs, (batch,))
        flops = 3 * forward_flops(model, x[:1]) * batch
        one, many = step_ms(model, optimizer, x, y, 1), step_ms(model, optimizer, x, y, default)
        side = "small: one thread" if flops < SMALL_STEP_FLOPS else "large: torch's default"
        print(
            f"  {inputs}-{width}-{width}-{outputs} batch {batch:<4} {flops / 1e6:>7.0f} MFLOP/step ({side}): "
            f"{default} threads / one = {many:.3f} / {one:.3f} ms = {many / one:.2f}",
            flush=True,
        )


def main():
    default = torch.get_num_threads()
    print(
        f"torch {torch.__version__}, default threads {default}; SMALL_STEP_FLOPS = {SMALL_STEP_FLOPS / 1e6:.0f} MFLOP"
    )
    print("quiet machine:")
    table(default)
    print("one busy-loop process holding a core:")
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        table(default)
    finally:
        loop.kill()
        loop.wait()


if __name__ == "__main__":
    main()
