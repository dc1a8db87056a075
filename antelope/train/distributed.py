"""Several processes, one run: data-parallel training launched by torchrun.

    torchrun --nproc-per-node=2 -m antelope train_steps=1000 batch_size=256

Each process (rank) trains on its own shard of the training data (every world_size-th sample) with
batch_size / world_size samples per batch; gradients are averaged across ranks after each backward, so
a step means what it means on one device with batch_size. Parameters start identical (broadcast from
rank 0) and are checked to be identical at the end. Only rank 0 writes the MLflow run, checkpoints and
progress; a checkpoint holds every rank's replay position, so `resume=` under torchrun with the same
number of processes continues exactly. After SIGINT/SIGTERM the ranks agree to stop at the next
`log_per_steps` step. GPUs: one per rank (LOCAL_RANK), NCCL; CPUs: gloo.

Why not torch's DistributedDataParallel wrapper: `learn` calls `self(x)` on the model itself, past any
wrapper's forward, and DDP's reducer is driven from its forward. The averaging is therefore explicit:
one bucketed all-reduce of all gradients per step, which is what DDP does without the overlap.
"""

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Group:
    rank: int
    world: int
    owned: bool  # whether antelope created the process group (and so destroys it)

    @property
    def leader(self):
        return self.rank == 0


def join(device):
    """(device, group): the process group torchrun set up (WORLD_SIZE > 1), else (device, None)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return device, None
    import torch.distributed as dist

    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    return device, Group(dist.get_rank(), dist.get_world_size(), owned)


def leave(group, together):
    """Tear down the process group antelope made. `together`: every rank got here normally, so they wait
    for each other first; rank 0 finishes the MLflow run after the others are done training, and a rank
    that closes its connections while a peer still uses them can make gloo abort that peer (SIGABRT).
    Garbage is collected first: objects that hold the group's work or tensors must not outlive it until
    interpreter shutdown, where freeing them can abort the process too (training keeps the collector off
    the older objects, see trainer.py)."""
    if group is not None and group.owned:
        import gc

        import torch.distributed as dist

        if together:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()


def share(group, value):
    """Rank 0's `value` (a small picklable object, e.g. its MLflow run id) on every rank."""
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast(group, model):
    """Every rank starts from rank 0's parameters and buffers."""
    import torch.distributed as dist

    with torch.no_grad():
        for tensor in list(model.parameters()) + list(model.buffers()):
            dist.broadcast(tensor.data, src=0)


def average_gradients(group, parameters):
    """One all-reduce of every gradient (zeros where a rank has none), divided by the world size."""
    import torch.distributed as dist

    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in parameters]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= group.world
    for parameter, averaged in zip(parameters, flat.split([g.numel() for g in grads]), strict=True):
        parameter.grad = averaged.view_as(parameter)


def any_process(group, flag, device):
    """Whether `flag` is true in any rank."""
    import torch.distributed as dist

    flags = torch.tensor([float(flag)], device=device)
    dist.all_reduce(flags)
    return flags.item() > 0


def gather(group, state):
    """Every rank's `state` (tensors and plain containers), in rank order, on every rank; tensors on the CPU."""
    import torch.distributed as dist

    states = [None] * group.world
    dist.all_gather_object(states, _to_cpu(state))
    return states


def _to_cpu(value):
    if isinstance(value, torch.Tensor):
        return value.cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    return value


def check_in_sync(group, model):
    """Raise if the ranks' parameters drifted apart (they must stay identical)."""
    import torch.distributed as dist

    with torch.no_grad():
        checksum = torch.stack([p.double().sum() for p in model.parameters()]).sum().reshape(1)
    sums = [torch.zeros_like(checksum) for _ in range(group.world)]
    dist.all_gather(sums, checksum)
    if not all(torch.allclose(s, sums[0], rtol=1e-9, atol=1e-9) for s in sums):
        raise RuntimeError(f"the processes' parameters differ at the end: checksums {[s.item() for s in sums]}")
