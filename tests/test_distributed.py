"""antelope.train.distributed: several processes, one run. Gradient averaging and sharding on their own; torchrun
with 2 CPU processes (gloo) in the end-to-end layer."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import mlflow.pytorch
import pytest
import torch
from conftest import runs

MODELS = Path(__file__).parent / "models.py"


def torchrun(*args):
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "antelope", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ),
    )


@pytest.mark.slow
def test_torchrun_is_one_run_and_one_stopped_on_one_process_resumes_under_torchrun_as_if_never_stopped(capsys):
    keys = ["train_steps=60", "evaluate_per_steps=30", "log_per_steps=10", "lr=0.01", "seed=3"]
    done = torchrun(f"model={MODELS}:Model", *keys)
    assert done.returncode == 0, done.stderr[-3000:]
    [row] = [row for _, row in runs("Digits").iterrows()]  # rank 0 alone records the run
    assert row["status"] == "FINISHED" and row["tags.antelope.processes"] == "2"
    assert row["params.batch_size"] == "64"  # the global batch: 32 per process
    assert row["metrics.eval/accuracy"] > 0.8 and done.stderr.count("finished:") == 1  # one report, from rank 0
    system = [k for k in row.index if k.startswith("metrics.system/") and k.endswith("/cpu_utilization_percentage")]
    assert sorted(system) == [
        "metrics.system/rank0/cpu_utilization_percentage",
        "metrics.system/rank1/cpu_utilization_percentage",
    ]  # each process its own
    assert isinstance(mlflow.pytorch.load_model(f"runs:/{row['run_id']}/model"), torch.nn.Module)

    stopped = torchrun(f"model={MODELS}:SignalsOnRankOne", *keys)
    assert stopped.returncode != 0 and "stopped at step 40" in stopped.stderr  # SIGTERM at 35 on rank 1: both
    reference, killed = runs("Digits").iloc[0], runs("Digits").iloc[1]  # ranks stop at the next log step
    assert killed["status"] == "KILLED"

    from antelope.cli import main

    assert main([f"model={MODELS}:Model", f"resume={killed['run_id']}"]) == 2  # one process, in this one
    assert (
        "written by 2 process(es) and this run has 1; resume with the same number (torchrun "
        "--nproc-per-node=2 ...)" in capsys.readouterr().err
    )
    resumed = torchrun(f"model={MODELS}:Model", f"resume={killed['run_id']}")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    client = mlflow.MlflowClient()
    assert client.get_run(killed["run_id"]).info.status == "FINISHED"
    history = {
        run_id: {m.step: m.value for m in client.get_metric_history(run_id, "train/loss")}
        for run_id in (reference["run_id"], killed["run_id"])
    }
    assert sorted(history[killed["run_id"]]) == [10, 20, 30, 40, 50, 60]
    assert history[killed["run_id"]] == pytest.approx(history[reference["run_id"]], rel=1e-5)
    accuracy = [client.get_run(r).data.metrics["eval/accuracy"] for r in (reference["run_id"], killed["run_id"])]
    assert accuracy[0] == pytest.approx(accuracy[1], abs=1e-6)


def _average_in_two_processes(rank, folder):
    import torch.distributed as dist

    from antelope.train.distributed import Group, average_gradients

    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    data = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    shard = data[rank::2]
    model(shard).pow(2).mean().backward()
    average_gradients(Group(rank, 2, True), list(model.parameters()))
    torch.save([p.grad for p in model.parameters()], f"{folder}/grads{rank}.pt")
    dist.destroy_process_group()


@pytest.mark.slow  # two processes with gloo
def test_averaged_gradients_equal_the_whole_batch_gradient(tmp_path):
    torch.multiprocessing.spawn(_average_in_two_processes, args=(str(tmp_path),), nprocs=2)
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    data = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
    model(data).pow(2).mean().backward()
    for rank in (0, 1):
        grads = torch.load(tmp_path / f"grads{rank}.pt")
        for mine, whole in zip(grads, [p.grad for p in model.parameters()], strict=True):
            assert torch.allclose(mine, whole, atol=1e-6)


@pytest.mark.slow
def test_torchrun_with_streamed_data_each_process_streams_its_shard():
    done = torchrun(
        f"model={MODELS}:Model", "stream=true", "data_workers=1", "train_steps=60", "lr=0.01", "evaluate_per_steps=0"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("; streamed by 1 worker process (stream=true was set)\n") == 2  # each rank
    [row] = [row for _, row in runs("Digits").iterrows()]
    assert row["status"] == "FINISHED" and row["tags.antelope.data"] == "streamed"
    assert row["metrics.eval/accuracy"] > 0.8


@pytest.mark.slow  # two torchrun processes, as two nodes
def test_the_readmes_two_nodes_on_one_machine_are_one_run():
    """The README's two `torchrun --nnodes=2` lines started together (a free port for node 0's): one MLflow run of
    two processes, recorded by node 0, every process's system metrics on it, the models in sync at the end."""
    import socket
    import threading

    from test_readme import blocks

    lines = [line for code in blocks("console") for line in code.splitlines() if "--node-rank=" in line]
    assert len(lines) == 2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    nodes = [
        subprocess.Popen(
            [sys.executable, "-m", "torch.distributed.run"]
            + [arg.replace("--master-port=29500", f"--master-port={port}") for arg in line.split()[1:]]
            + ["train_steps=60", "evaluate_per_steps=30", "log_per_steps=10"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ),
        )
        for line in lines
    ]
    hung = threading.Timer(300, lambda: [node.kill() for node in nodes])  # a rendezvous that never completes
    hung.start()
    said = [node.communicate()[1] for node in nodes]
    hung.cancel()
    assert [node.returncode for node in nodes] == [0, 0], [text[-2000:] for text in said]
    assert said[0].count("finished:") == 1 and "finished:" not in said[1]  # global rank 0 reports
    [row] = [row for _, row in runs("Digits").iterrows()]
    assert row["status"] == "FINISHED" and row["tags.antelope.processes"] == "2"
    system = sorted(
        k for k in row.index if k.startswith("metrics.system/rank") and k.endswith("cpu_utilization_percentage")
    )
    assert system == [
        "metrics.system/rank0/cpu_utilization_percentage",
        "metrics.system/rank1/cpu_utilization_percentage",
    ]
