"""Several processes, one run: torchrun with 2 CPU processes (gloo)."""
import os
import subprocess
import sys
from pathlib import Path

import torch
from conftest import runs

MODELS = Path(__file__).parent / "models.py"


def test_torchrun_two_processes_one_run():
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
         "-m", "antelope", f"model={MODELS}:Model", "train_steps=60", "evaluate_per_steps=30", "lr=0.01"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert done.returncode == 0, done.stderr[-3000:]
    table = runs("Digits")
    assert len(table) == 1  # rank 0 alone records the run
    row = table.iloc[0]
    assert row["status"] == "FINISHED" and row["tags.antelope.processes"] == "2"
    assert row["params.batch_size"] == "64"  # the global batch: 32 per process
    assert row["metrics.eval/accuracy"] > 0.8
    assert done.stderr.count("finished:") == 1  # one report, from rank 0


def _average_in_two_processes(rank, folder):
    import torch.distributed as dist

    from antelope.distributed import Group, average_gradients

    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    data = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    shard = data[rank::2]
    model(shard).pow(2).mean().backward()
    average_gradients(Group(rank, 2, True), list(model.parameters()))
    torch.save([p.grad for p in model.parameters()], f"{folder}/grads{rank}.pt")
    dist.destroy_process_group()


def test_averaged_gradients_equal_the_whole_batch_gradient(tmp_path):
    torch.multiprocessing.spawn(_average_in_two_processes, args=(str(tmp_path),), nprocs=2)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    data = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    model(data).pow(2).mean().backward()
    for rank in (0, 1):
        grads = torch.load(tmp_path / f"grads{rank}.pt")
        for mine, whole in zip(grads, [p.grad for p in model.parameters()]):
            assert torch.allclose(mine, whole, atol=1e-6)
