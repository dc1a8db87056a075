"""Trainer speed against hand-written references, measured side by side in one process run.

    python tests/benchmarks/bench_speed.py                  # CPU here; also CUDA when a GPU is present
    python tests/benchmarks/bench_speed.py --quick          # fewer repeats
    python tests/benchmarks/bench_speed.py --instructions   # also target 1 in instructions (valgrind; ~6 min)

Prints each target as `name: ours / reference = ratio (target)`: the medians of several repeats, and
the median of the per-repeat ratios (ours and the reference alternate, so both see the same load).
Not a test: the machines are shared and noisy, so nothing here asserts.

Target 1's step time is measured two ways:
- steady state: the time per step between steps 300 and 3300 of one run, stamped at those steps by the
  model's `learn` (ours) and by the loop (the hand-written one): start-up and the end of the run are
  outside the window, so their scatter is too;
- two run lengths, (T(n2) - T(n1)) / (n2 - n1): start-up cancels out, and the end of the run (the
  buffered metrics' write, proportional to the steps) is in.

On a machine so noisy that even paired ratios scatter, `--instructions` also counts target 1 in CPU
instructions under valgrind's cachegrind, which do not depend on the load: the marginal instructions
per step of ours and of the hand-written loop, each in its own process.
"""

import os
import re
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
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, out_features),
        )


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


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def paired(ours_, reference, repeats=REPEATS):
    """(median of ours, median of the reference, median of the per-repeat ratios), each a value the two
    functions return. Ours and the reference alternate within each repeat, so that both see the same load
    from the rest of a shared machine; the median of paired ratios is steadier than a ratio of medians."""
    pairs = [(ours_(), reference()) for _ in range(repeats)]
    return (
        statistics.median(o for o, _ in pairs),
        statistics.median(r for _, r in pairs),
        statistics.median(o / r for o, r in pairs),
    )


def marginal(function, n1, n2):
    """A function measuring seconds per step beyond start-up: (T(n2) - T(n1)) / (n2 - n1)."""
    return lambda: (timed(function, n2) - timed(function, n1)) / (n2 - n1)


class Window:
    """Seconds per step between steps `first` and `last` of one run: the timed loop calls `tick()` once
    per step (before the step's work), and a CUDA device is synchronized at the two stamps."""

    def __init__(self, device, first=300, last=3300):
        self.first, self.last, self.cuda = first, last, device.startswith("cuda")
        self.step, self.stamps = 0, {}

    def tick(self):
        self.step += 1
        if self.step == self.first or self.step == self.last:
            if self.cuda:
                torch.cuda.synchronize()
            self.stamps[self.step] = time.perf_counter()

    def measure(self, run):
        """A function measuring seconds per step in the window of `run(steps)`, started anew each call."""

        def measured():
            self.step, self.stamps = 0, {}
            run(self.last + 10)
            return (self.stamps[self.last] - self.stamps[self.first]) / (self.last - self.first)

        return measured


def ticking(model_class, window):
    """The model class with a `learn` that ticks `window` first: ours, timed from inside the run."""

    class Ticking(model_class):
        def learn(self, replay):
            window.tick()
            return super().learn(replay)

    Ticking.__name__ = model_class.__name__
    return Ticking


def report(name, measured, target):
    ours_, reference, ratio = measured
    print(f"{name}: {ours_:.6g} / {reference:.6g} = {ratio:.3f} ({target})", flush=True)


def ours(model, dataset, device, **keys):
    from antelope import ml

    def run(steps):
        ml(
            model=model,
            dataset=dataset,
            train_steps=steps,
            evaluate_per_steps=0,
            save_per_steps=10**9,
            device=device,
            **keys,
        )

    return run


def hand_written(model_class, dataset, device, batch_size=64, window=None):
    """The same model and optimizer over pre-batched tensors on the device: the floor. With a `window`,
    each step ticks it first."""
    from antelope.data import load

    data = load(
        dataset if isinstance(dataset, str) else "x",
        objects={"dataset": dataset} if not isinstance(dataset, str) else None,
    )
    obs, label = data.train.obs.to(device), data.train.label.to(device)
    batches = [
        (obs[i : i + batch_size], label[i : i + batch_size]) for i in range(0, len(obs) - batch_size + 1, batch_size)
    ]

    def run(steps):
        torch.manual_seed(0)
        in_shape = obs.shape[1:]
        model = (model_class(in_shape.numel(), 10) if model_class is TinyMLP else model_class(in_shape[0], 10)).to(
            device
        )
        optimizer = torch.optim.Adam(model.parameters())
        for step in range(steps):
            if window is not None:
                window.tick()
            x, y = batches[step % len(batches)]
            loss = cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    return run


def data_path(dataset, device, batch_size=64, steps=2000):
    from antelope.data import load
    from antelope.data.replay import Replay

    data = load(
        dataset if isinstance(dataset, str) else "x",
        objects={"dataset": dataset} if not isinstance(dataset, str) else None,
    )
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
            index = order[position : position + batch_size]
            position += batch_size
            obs[index], label[index]

    return paired(lambda: timed(ours_) / steps, lambda: timed(plain) / steps)


def startup():
    python = sys.executable

    def imports(module):
        return lambda: timed(subprocess.run, [python, "-c", f"import {module}"])

    return paired(imports("antelope"), imports("torch"))


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
    seconds = statistics.median(once() for _ in range(REPEATS))
    return seconds, 1.0, seconds  # against the 1 s target itself


def lightning(dataset, device):
    try:
        import lightning
    except ImportError:
        return None
    from antelope.data import load

    data = load(dataset)
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
        trainer = lightning.Trainer(
            max_steps=steps,
            accelerator="cpu" if device == "cpu" else "gpu",
            devices=1,
            logger=MLFlowLogger(tracking_uri=f"sqlite:///{folder}/mlflow.db"),
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            log_every_n_steps=100,
        )
        loader = torch.utils.data.DataLoader(loader_data, batch_size=64, shuffle=True, drop_last=True)
        trainer.fit(Module(), loader)

    return run


def instructions(n1=200, n2=1200):
    """Target 1 in instructions: (ours, the hand-written loop, ratio) of marginal instructions per step,
    or None without valgrind. Each count is a child process (`--child KIND STEPS`) under cachegrind, two
    at a time; numpy's BLAS threads are kept from spinning (their busy-waiting counts as instructions)."""
    if subprocess.run(["valgrind", "--version"], capture_output=True).returncode != 0:
        return None
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    folder = tempfile.mkdtemp()

    def start(kind, steps):
        log = os.path.join(folder, f"{kind}.{steps}.log")
        command = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            f"--log-file={log}",
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            kind,
            str(steps),
        ]
        return subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL), log

    def count(process, log):
        process.wait()
        return int(re.search(r"I\s+refs:\s+([\d,]+)", open(log).read()).group(1).replace(",", ""))

    per_step = {}
    for kind in ("ours", "hand"):
        short, long = start(kind, n1), start(kind, n2)
        per_step[kind] = (count(*long) - count(*short)) / (n2 - n1)
    return per_step["ours"], per_step["hand"], per_step["ours"] / per_step["hand"]


def child(kind, steps):
    """One side of target 1, run for `steps` after a warm-up: what `instructions()` counts."""
    from antelope.tracking import runs as tracked_runs

    # Under valgrind everything runs ~50x slower, so the metrics writer's timed flush (every FLUSH_SECONDS)
    # would come ~50x more often per step than at full speed, where runs this short never reach it.
    tracked_runs.FLUSH_SECONDS = 10.0**6
    # The same for MLflow's system metrics, sampled every 10 s of wall time: at valgrind's pace a sample
    # would land every ~200 steps instead of every ~30 000. The monitor still starts, takes its first sample
    # and records it at the end, as at full speed.
    os.environ["MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"] = str(10 * 50)
    torch.set_num_threads(1)
    os.chdir(tempfile.mkdtemp())
    sys.stderr = open(os.devnull, "w")
    run = ours(TinyMLP, "Digits", "cpu") if kind == "ours" else hand_written(TinyMLP, "Digits", "cpu")
    run(10)  # one-time costs (imports, the store's tables) in both counts, so they cancel
    run(steps)


def main():
    if "--child" in sys.argv:
        kind, steps = sys.argv[sys.argv.index("--child") + 1 :][:2]
        return child(kind, int(steps))
    # One intra-op thread: fastest for these tiny models, and steadier on a shared machine. Both sides
    # of every ratio run in this process, so they share the setting.
    torch.set_num_threads(1)
    os.chdir(tempfile.mkdtemp())  # the default MLflow store (./mlflow.db) of this benchmark
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    import logging

    logging.getLogger("lightning").setLevel(logging.ERROR)
    sys.stderr = open(os.devnull, "w")  # ml()'s progress lines
    print(
        f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, "
        f"{torch.cuda.get_device_name() if torch.cuda.is_available() else 'no GPU'}",
        flush=True,
    )
    n1, n2 = (200, 1200) if QUICK else (500, 6000)  # the longer, the less start-up noise per step
    for device in devices:
        window = Window(device)
        report(
            f"1. step time, tiny MLP, tracking on, steady state ({device}) [s]",
            paired(
                window.measure(ours(ticking(TinyMLP, window), "Digits", device)),
                window.measure(hand_written(TinyMLP, "Digits", device, window=window)),
                2 * REPEATS + 1,
            ),
            "target <= 1.05",
        )
        steps = paired(
            marginal(ours(TinyMLP, "Digits", device), n1, n2), marginal(hand_written(TinyMLP, "Digits", device), n1, n2)
        )
        report(f"1. step time, tiny MLP, tracking on, two run lengths ({device}) [s]", steps, "target <= 1.05")
        if device == "cpu" and "--instructions" in sys.argv:
            counted = instructions()
            if counted is None:
                print("1. instructions per step: valgrind is not installed, skipped")
            else:
                report("1. instructions per step, tiny MLP, tracking on (cpu, cachegrind)", counted, "target <= 1.05")
        if device == "cuda":
            conv = Synthetic()
            report(
                "1. step time, conv net, CIFAR-shaped, steady state (cuda) [s]",
                paired(
                    window.measure(ours(ticking(ConvNet, window), conv, device, batch_size=64)),
                    window.measure(hand_written(ConvNet, conv, device, window=window)),
                ),
                "target <= 1.05",
            )
        length = 8000 if QUICK else int(22 / steps[0])  # a run of about 22 s (the target is for >= 20 s)
        wall = paired(
            lambda device=device, length=length: timed(ours(TinyMLP, "Digits", device), length),
            lambda device=device, length=length: timed(ours(TinyMLP, "Digits", device, tracking=False), length),
            REPEATS,
        )
        report(f"2. run wall time, tracking on / off ({device}, {length} steps) [s]", wall, "target <= 1.02")
        report(
            f"3. replay batch / plain permutation indexing ({device}) [s]", data_path("Digits", device), "target <= 2"
        )
        report(f"4b. ml() to first learn call, Digits default ({device}) [s]", first_step(device), "target <= 1 s")
    report("4a. import antelope / import torch [s]", startup(), "target <= 1.2")
    theirs = lightning("Digits", "cpu")
    if theirs is None:
        print("5. PyTorch Lightning: not installed (pip install lightning), skipped")
        return
    floor = marginal(hand_written(TinyMLP, "Digits", "cpu"), n1, n2)
    # Ours first: Lightning's MLFlowLogger sets MLFLOW_TRACKING_URI for the whole process, and ml() after
    # it would record into Lightning's store instead of the default one.
    antelope = paired(marginal(ours(TinyMLP, "Digits", "cpu"), n1, n2), floor)
    report("5. Lightning step time (cpu) [s]", paired(marginal(theirs, n1, n2), floor), "theirs")
    report("5. antelope step time (cpu) [s]", antelope, "ours, same workload")


if __name__ == "__main__":
    main()
