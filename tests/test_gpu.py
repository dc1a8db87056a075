"""The CUDA path through the real doors (ml(), the console, a sweep, torchrun), on the GPU: data held on the device,
bf16 and fp16 (with the grad scaler), compile, channels-last, a checkpoint moved between GPU and CPU, streamed and
uint8 data, sweep workers on one GPU, NCCL, the default agent on images and on CartPole, a model trained on CUDA
loaded on the CPU, and system metrics of the GPU used. Each is skipped on a machine without CUDA; tests/gpu/run.sh
runs them on a GPU machine (with tests/benchmarks/bench_gpu.py)."""

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import torch
from conftest import ML, runs
from torch import nn
from torch.nn.functional import cross_entropy

from antelope import load, ml, sweep
from antelope.sweeps import studies

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (tests/gpu/run.sh on a GPU machine)"),
]
MODELS = Path(__file__).parent / "models.py"
SHORT = dict(train_steps=60, evaluate_per_steps=30, log_per_steps=10, system_metrics=False, device="cuda")


class Probe(nn.Module):
    """A small classifier that notes what it is given: the batch's device, dtype and memory format, the replay's
    own storage, and whether autocast is on."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 64), nn.ReLU(), nn.Linear(64, out_features))
        self.seen = []

    def forward(self, x):
        return self.net(x)

    def learn(self, replay, log):
        batch = next(replay)
        stored = getattr(replay, "obs", None)
        self.seen.append(
            dict(
                device=batch.obs.device.type,
                dtype=batch.obs.dtype,
                autocast=torch.is_autocast_enabled("cuda"),
                channels_last=batch.obs.dim() == 4 and batch.obs.is_contiguous(memory_format=torch.channels_last),
                stored=(stored.device.type, stored.dtype) if stored is not None else None,
            )
        )
        loss = cross_entropy(self(batch.obs), batch.label)
        log.loss = loss
        return loss


class ConvProbe(Probe):
    def __init__(self, in_channels, out_features):
        nn.Module.__init__(self)
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(16, out_features),
        )
        self.seen = []


class CifarShaped(torch.utils.data.Dataset):
    """CIFAR-shaped uint8 images (3, 32, 32) with 10 classes, the class written into the pixels, made here."""

    def __init__(self, train=True, n=2048):
        generator = torch.Generator().manual_seed(0 if train else 1)
        self.targets = torch.randint(10, (n,), generator=generator)
        noise = torch.randint(0, 64, (n, 32, 32, 3), generator=generator, dtype=torch.uint8)
        self.data = (noise + (self.targets * 19).to(torch.uint8)[:, None, None, None]).numpy()  # (N, H, W, C)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return torch.from_numpy(self.data[index]).permute(2, 0, 1).contiguous(), int(self.targets[index])


def losses(run_id):
    return [m.value for m in mlflow.MlflowClient().get_metric_history(run_id, "train/loss")]


def test_ml_holds_the_data_on_the_gpu_and_learns():
    result = ml(model=Probe, **SHORT, lr=1e-2)
    assert {s["device"] for s in result.model.seen} == {"cuda"} and result.model.seen[0]["stored"] == (
        "cuda",
        torch.float32,
    )
    assert next(result.model.parameters()).is_cuda and result.metrics["eval/accuracy"] > 0.5


def test_the_console_on_cuda():
    done = subprocess.run(
        [ML, "device=cuda", "train_steps=60", "evaluate_per_steps=30", "system_metrics=false"],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert runs("Digits")["tags.antelope.device"][0] == "cuda"


def test_bf16_runs_learn_under_autocast_and_the_loss_falls():
    result = ml(model=Probe, precision="bf16", **SHORT, lr=1e-2)
    assert all(s["autocast"] for s in result.model.seen)
    history = losses(result.run_id)
    assert all(v == v and abs(v) != float("inf") for v in history) and history[-1] < history[0]


def test_fp16_scales_the_loss_and_the_loss_falls():
    result = ml(model=Probe, precision="fp16", **SHORT, lr=1e-2)
    folder = mlflow.MlflowClient().get_run(result.run_id).info.artifact_uri + "/checkpoints"
    newest = sorted(os.listdir(folder))[-1]
    scaler = torch.load(os.path.join(folder, newest), weights_only=True)["update"]["scaler"]
    assert scaler and scaler["scale"] > 0  # the scaler is active: its state is saved with its scale
    history = losses(result.run_id)
    assert all(v == v and abs(v) != float("inf") for v in history) and history[-1] < history[0]


def test_compile_trains():
    result = ml(model=Probe, compile=True, **SHORT, lr=1e-2)
    assert result.metrics["eval/accuracy"] > 0.5 and result.config["compile"] is True


def test_channels_last_batches_and_model():
    result = ml(model=ConvProbe, dataset=CifarShaped, channels_last=True, **SHORT)
    assert all(s["channels_last"] for s in result.model.seen)
    assert result.model.net[0].weight.is_contiguous(memory_format=torch.channels_last)


def test_in_memory_uint8_images_stay_uint8_on_the_gpu():
    result = ml(model=ConvProbe, dataset=CifarShaped, **SHORT)
    assert result.model.seen[0]["stored"] == ("cuda", torch.uint8) and result.model.seen[0]["dtype"] == torch.float32


def test_a_streamed_run_reads_into_pinned_memory_and_trains_on_the_gpu():
    result = ml(model=ConvProbe, dataset=CifarShaped, stream=True, data_workers=2, **SHORT)
    assert {s["device"] for s in result.model.seen} == {"cuda"}
    assert runs("CifarShaped")["tags.antelope.data"][0] == "streamed"


def test_a_checkpoint_written_on_the_gpu_resumes_on_the_cpu_and_back():
    from models import SignalsItself

    from antelope.train.interrupts import Interrupted

    SignalsItself.calls, SignalsItself.fired = 0, False
    with pytest.raises(Interrupted):
        ml(model=SignalsItself, **SHORT)  # stops at step 35 with a checkpoint written on the GPU
    stopped = runs()["run_id"][0]
    on_cpu = ml(model=SignalsItself, resume=stopped, device="cpu")
    assert on_cpu.run_id == stopped and next(on_cpu.model.parameters()).device.type == "cpu"
    SignalsItself.calls, SignalsItself.fired = 0, False
    with pytest.raises(Interrupted):
        ml(model=SignalsItself, **{**SHORT, "device": "cpu"})  # and a CPU checkpoint, continued on the GPU
    stopped = runs().sort_values("start_time")["run_id"].iloc[-1]
    on_gpu = ml(model=SignalsItself, resume=stopped, device="cuda")
    assert next(on_gpu.model.parameters()).is_cuda and on_gpu.metrics["eval/accuracy"] > 0.5


def test_a_model_trained_on_cuda_loads_on_the_cpu_the_mlflow_way():
    result = ml(**SHORT)
    model = mlflow.pytorch.load_model(f"runs:/{result.run_id}/model", map_location="cpu")
    assert next(model.parameters()).device.type == "cpu"
    assert model(torch.rand(4, 1, 8, 8)).shape == (4, 10)
    assert next(load(result.run_id, "cpu").parameters()).device.type == "cpu"


def test_the_default_agent_on_cifar_shaped_data_and_on_cartpole():
    images = ml(dataset=CifarShaped, **SHORT)
    assert images.metrics["eval/accuracy"] > 0.2  # above chance, 60 steps
    cartpole = ml(env="CartPole-v1", device="cuda", train_steps=2000, evaluate_per_steps=1000, system_metrics=False)
    assert next(cartpole.model.parameters()).is_cuda and "eval/return" in cartpole.metrics


def test_system_metrics_name_only_the_gpu_the_run_used():
    result = ml(**{**SHORT, "system_metrics": True})
    names = mlflow.MlflowClient().get_run(result.run_id).data.metrics
    gpus = {name.split("_")[1] for name in names if name.startswith("system/gpu_")}
    assert gpus == {str(torch.cuda.current_device())}, sorted(names)


def test_a_sweep_with_two_workers_on_one_gpu():
    study = sweep(
        model="models.Model",
        space={"optim.lr": "tag(log, interval(1e-3, 1e-1))"},
        trials=2,
        workers=2,
        pruner="none",
        train_steps=40,
        evaluate_per_steps=20,
        device="cuda",
        system_metrics=False,
    )
    assert {t.state.name for t in studies.counted(study.trials)} == {"COMPLETE"}  # surplus asks left out
    table = runs("Digits")
    trials = table[table["tags.antelope.trial"].notna()]
    assert set(trials["tags.antelope.cuda_visible_devices"]) <= {str(i) for i in range(torch.cuda.device_count())}
    assert set(trials["tags.antelope.device"]) == {"cuda"}


def test_torchrun_with_nccl_one_process_per_gpu():
    count = torch.cuda.device_count()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={count}",
            "-m",
            "antelope",
            "device=cuda",
            f"batch_size={64 * count}",
            "train_steps=40",
            "evaluate_per_steps=20",
            "system_metrics=false",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert runs("Digits")["tags.antelope.processes"][0] == str(count)
