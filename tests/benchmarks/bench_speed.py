"""Trainer speed against hand-written references, measured side by side in one process run.

    python tests/benchmarks/bench_speed.py            # CPU here; also CUDA when a GPU is present
    python tests/benchmarks/bench_speed.py --quick    # fewer repeats

Prints each target as `name: ours / reference = ratio (target)`, medians of several repeats. Marginal
step times come from two run lengths (T(n2) - T(n1)) / (n2 - n1), so start-up and the final
evaluation cancel out. Not a test: the machines are shared and noisy, so nothing here asserts.
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn
from torch.nn.functional import cross_entropy

QUICK = "--quick" in sys.argv
REPEATS = 3 if QUICK else 5


class TinyMLP(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 64), nn.ReLU(), nn.Linear(64, out_features))

    def forward(self, x):
        return self.net(x)

    def learn(self, replay):
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)


class ConvNet(TinyMLP):
    def __init__(self, in_channels, out_features):
        nn.Module.__init__(self)
        self.net = nn.Sequential(nn.Conv2d(in_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                                 nn.Flatten(), nn.Linear(64, out_features))


class Synthetic(torch.utils.data.Dataset):
    """CIFAR-shaped data (N, 3, 32, 32) with 10 classes, made here."""

    def __init__(self, train=True, n=10000):
        generator = torch.Generator().manual_seed(0 if train else 1)
        self.data = torch.rand(n, 3, 32, 32, generator=generator)
        self.targets = torch.randint(0, 10, (n,), generator=generator)

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i], int(self.targets[i])


def median_time(function, repeats=REPEATS):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def marginal(function, n1, n2):
    """Seconds per step beyond start-up: (T(n2) - T(n1)) / (n2 - n1), each a median."""
    return (median_time(lambda: function(n2)) - median_time(lambda: function(n1))) / (n2 - n1)


def report(name, ours, reference, target):
    print(f"{name}: {ours:.6g} / {reference:.6g} = {ours / reference:.3f} ({target})", flush=True)


def ours(model, dataset, device, **keys):
    from antelope import ml

    def run(steps):
        ml(model=model, dataset=dataset, train_steps=steps, evaluate_per_steps=0, save_per_steps=10**9,
           device=device, **keys)
    return run


def hand_written(model_class, dataset, device, batch_size=64):
    """The same model and optimizer over pre-batched tensors on the device: the floor."""
    from antelope import datasets

    data = datasets.load(dataset if isinstance(dataset, str) else "x", objects={"dataset": dataset}
                         if not isinstance(dataset, str) else None)
    obs, label = data.train.obs.to(device), data.train.label.to(device)
    batches = [(obs[i:i + batch_size], label[i:i + batch_size]) for i in range(0, len(obs) - batch_size + 1, batch_size)]

    def run(steps):
        torch.manual_seed(0)
        in_shape = obs.shape[1:]
        model = (model_class(in_shape.numel(), 10) if model_class is TinyMLP else model_class(in_shape[0], 10)).to(device)
        optimizer = torch.optim.Adam(model.parameters())
        for step in range(steps):
            x, y = batches[step % len(batches)]
            loss = cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
    return run


def data_path(dataset, device, batch_size=64, steps=2000):
    from antelope import datasets
    from antelope.replay import Replay

    data = datasets.load(dataset if isinstance(dataset, str) else "x", objects={"dataset": dataset}
                         if not isinstance(dataset, str) else None)
    replay = Replay(data.train.obs, data.train.label, batch_size, torch.device(device), 0)
    obs, label = replay.obs, replay.label

    def ours_():
        for _ in range(steps):
            next(replay)

    def plain():
        position, order = len(obs), None
        for _ in range(steps):
            if position + batch_size > len(obs):
                order, position = torch.randperm(len(obs), device=obs.device), 0
            index = order[position:position + batch_size]
            position += batch_size
            obs[index], label[index]

    return median_time(ours_) / steps, median_time(plain) / steps


def startup():
    python = sys.executable

    def imports(module):
        return median_time(lambda: subprocess.run([python, "-c", f"import {module}"], check=True))
    return imports("antelope"), imports("torch")


def first_step(device):
    """Seconds from calling ml() to the first call of learn, after imports."""
    import antelope  # noqa: F401  (imports are not counted)
    from antelope import ml
    from antelope.agents import MLP

    marks = {}

    class Timed(MLP):
        def learn(self, replay):
            marks.setdefault("first", time.perf_counter())
            return super().learn(replay)

    def once():
        marks.clear()
        start = time.perf_counter()
        ml(model=Timed, train_steps=1, device=device)
        return marks["first"] - start

    once()  # the first call also pays one-time costs (MLflow's import, the store's migrations)
    return statistics.median(once() for _ in range(REPEATS))


def lightning_step(dataset, device, n1, n2):
    try:
        import lightning
    except ImportError:
        return None
    from antelope import datasets

    data = datasets.load(dataset)
    loader_data = torch.utils.data.TensorDataset(data.train.obs, data.train.label)

    class Module(lightning.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = TinyMLP(64, 10)

        def training_step(self, batch, index):
            x, y = batch
            loss = cross_entropy(self.model(x), y)
            self.log("loss", loss)
            return loss

        def configure_optimizers(self):
            return torch.optim.Adam(self.parameters())

    def run(steps):
        from lightning.pytorch.loggers import MLFlowLogger

        folder = tempfile.mkdtemp()
        trainer = lightning.Trainer(max_steps=steps, accelerator="cpu" if device == "cpu" else "gpu", devices=1,
                                    logger=MLFlowLogger(tracking_uri=f"sqlite:///{folder}/mlflow.db"),
                                    enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                    log_every_n_steps=100)
        loader = torch.utils.data.DataLoader(loader_data, batch_size=64, shuffle=True, drop_last=True)
        trainer.fit(Module(), loader)
    return marginal(run, n1, n2)


def main():
    # One intra-op thread: fastest for these tiny models, and steadier on a shared machine. Both sides
    # of every ratio run in this process, so they share the setting.
    torch.set_num_threads(1)
    os.chdir(tempfile.mkdtemp())  # the default MLflow store (./mlflow.db) of this benchmark
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    import logging
    logging.getLogger("lightning").setLevel(logging.ERROR)
    sys.stderr = open(os.devnull, "w")  # ml()'s progress lines
    print(f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}", flush=True)
    n1, n2 = (200, 1200) if QUICK else (500, 3000)
    for device in devices:
        mine = marginal(ours(TinyMLP, "Digits", device), n1, n2)
        floor = marginal(hand_written(TinyMLP, "Digits", device), n1, n2)
        report(f"1. step time, tiny MLP, tracking on ({device}) [s]", mine, floor, "target <= 1.05")
        if device == "cuda":
            conv = Synthetic()
            mine = marginal(ours(ConvNet, conv, device, batch_size=64), n1, n2)
            floor = marginal(hand_written(ConvNet, conv, device), n1, n2)
            report("1. step time, conv net, CIFAR-shaped (cuda) [s]", mine, floor, "target <= 1.05")
        steps = 30000 if not QUICK else 8000  # a run of >= 20 s when not quick
        on = median_time(lambda: ours(TinyMLP, "Digits", device)(steps), 3)
        off = median_time(lambda: ours(TinyMLP, "Digits", device, tracking=False)(steps), 3)
        report(f"2. run wall time, tracking on / off ({device}, {steps} steps) [s]", on, off, "target <= 1.02")
        mine, plain = data_path("Digits", device)
        report(f"3. replay batch / plain permutation indexing ({device}) [s]", mine, plain, "target <= 2")
        report(f"4b. ml() to first learn call, Digits default ({device}) [s]", first_step(device), 1.0,
               "target <= 1 s")
    antelope_import, torch_import = startup()
    report("4a. import antelope / import torch [s]", antelope_import, torch_import, "target <= 1.2")
    theirs = lightning_step("Digits", "cpu", n1, n2)
    if theirs is None:
        print("5. PyTorch Lightning: not installed (pip install lightning), skipped")
    else:
        floor = marginal(hand_written(TinyMLP, "Digits", "cpu"), n1, n2)
        mine = marginal(ours(TinyMLP, "Digits", "cpu"), n1, n2)
        report("5. Lightning step time (cpu) [s]", theirs, floor, "theirs")
        report("5. antelope step time (cpu) [s]", mine, floor, "ours, same workload")


if __name__ == "__main__":
    main()
