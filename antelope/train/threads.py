"""Threads: how many CPU threads torch uses while a run trains (`threads=`, recorded as a param).

Torch's default is one thread per core. Each operation is then split across the threads, which wait for
each other at its end: worth it for large operations, not for the many small ones of a small model's step,
and ruinous when another process holds a core (a thread that waits for a descheduled one waits a whole
time slice). tests/benchmarks/bench_threads.py measures both on this machine: below SMALL_STEP_FLOPS a
second thread saves little on an idle machine and costs several times over on a busy one.

`threads=null` therefore gives a model whose learning step is small work one thread, and any other model
torch's setting as it is (the cores, OMP_NUM_THREADS, or what the caller set with torch.set_num_threads):
never more threads than the process was given. On a GPU the CPU only feeds the device, so torch's setting
is kept too. Sweep workers on the CPU share the cores between them (workers.run_workers).
"""

import contextlib

import torch

# A learning step's floating-point operations (forward and backward, about three forwards over a batch)
# below which one thread is as fast as two on an idle machine, within the margin bench_threads.py prints
SMALL_STEP_FLOPS = 50e6


def choose(model, example, batch_size, device):
    """The thread count for training `model` on `device`, given one `example` input batch."""
    available = torch.get_num_threads()
    if device.type != "cpu" or available == 1:
        return available
    flops = forward_flops(model, example)
    if flops is None:  # forward does not take the data (a GAN's takes noise): no estimate, no change
        return available
    return 1 if 3 * flops * batch_size < SMALL_STEP_FLOPS else available


def forward_flops(model, example):
    """Floating-point operations of the model's forward per sample of `example`, counted by torch's
    FlopCounterMode; None when forward does not take it. The model's mode and the random streams are as
    they were before (a dropout layer in train mode would draw from them)."""
    from torch.utils.flop_counter import FlopCounterMode

    training = model.training
    model.eval()
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(example)
    except Exception:  # the user's forward: any error means it takes something else
        return None
    finally:
        model.train(training)
    return counter.get_total_flops() / max(len(example), 1)


@contextlib.contextmanager
def using(count):
    """torch.set_num_threads(count) inside, the caller's setting again after."""
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
