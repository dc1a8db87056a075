"""Data paths, measured: streaming throughput against a hand-written DataLoader, memory that stays bounded
on data larger than memory, the in-memory path's compactness, and what grows with a dataset's length.

    python tests/benchmarks/bench_data.py --quick             # a check that it works (~2-3 min, 2 cores)
    python tests/benchmarks/bench_data.py                     # the full measurement (see below)
    python tests/benchmarks/bench_data.py --only 1            # one measurement (1, 2, 3 or 4)
    python tests/benchmarks/bench_data.py --data /big/disk    # where the JPEG folder is made and kept

Prints each target as `name: ours / reference = ratio (target)`, the reference measured in the same run.
Not a test: the machines are shared and noisy, so nothing here asserts. torch's intra-op threads are pinned
(`--threads`, default 1) in every process, and given to ml() as threads= so that both sides train alike;
DataLoader worker processes use one thread each (torch sets that in every worker). The device is CUDA when
present (both sides), else the CPU. MLflow tracking is on, into a throwaway SQLite store
(MLFLOW_TRACKING_URI, set here) in a temporary folder, migrated once before anything is timed.

1. Streaming throughput. A folder of JPEGs of mixed sizes (sides 48..160 px, 10 class subfolders; made once
   by a few processes with PIL and kept in `--data`, default the temporary folder) trained with a small conv
   net: ours is `ml(dataset=folder, stream=True, image_size=64, data_workers=W,
   transform=[RandomHorizontalFlip], batch_size=128, train_steps=S, evaluate_per_steps=0)`; the reference a
   hand-written torch DataLoader over torchvision's ImageFolder (its PIL loader; Resize(64) of the shorter
   side, CenterCrop(64), RandomHorizontalFlip, to float in [0, 1], as a user writes it with torchvision's
   transforms on PIL images), the same W workers, pin_memory on a GPU, persistent workers, batch 128, shuffled
   (prefetch_factor 2 on both sides, DataLoader's default),
   over the same training files (antelope's 80% of the folder), and a plain loop (the same model, Adam, cross
   entropy). Samples per second in the steady state: the time between step `first` and step S, stamped in the
   model's `learn` (ours) and at the top of the loop (the reference), so start-up (opening the folder, the
   spec's sample, starting the workers, the MLflow run) and the end (evaluation, the logged model) are outside
   the window. The two alternate over the repeats (the order swapped each repeat), so both see the same load;
   the median of the per-repeat ratios is printed. Target: ours / reference >= 0.95.
2. Memory stays bounded. A Dataset whose samples are made from their index (3x224x224 float32, 602 KB each;
   17,000 of them, 10.2 GB were they held as float32) trained 200 steps (--quick: 50) of 64 by ml(), stream= left
   to antelope (or stream=true where this machine's memory is so large that antelope would hold it: said so),
   in a process of its own. This process samples the memory of that process and of its DataLoader workers
   (the whole process tree): the sum of RSS every 50 ms, and the sum of PSS every 250 ms (from
   /proc/PID/smaps_rollup: each page shared between processes, as forked workers share their parent's, split
   between them, so the sum is the memory actually used; the RSS sum counts such pages once per process).
   Also the time from calling ml() to the model's first learn call, and the path antelope recorded (the run's
   tag antelope.data). Targets: peak < 3 GB; the first step within seconds (< 10 s). The reference: N * bytes
   per sample, the data materialized.
3. In-memory compactness. A CIFAR-10-shaped Dataset as torchvision's CIFAR10 is (`.data` (N, 32, 32, 3) uint8,
   `.targets` a list, yielding PIL images), 50,000 training samples, read into memory by
   antelope.samples.into_memory and drawn one epoch through antelope.replay.Replay, in a process of its own
   (a warm-up on 100 samples first, so that imports are not counted): the bytes the training split holds
   (obs.nbytes + label.nbytes) and the process's RSS growth (peak, sampled every 5 ms, over the baseline after
   the dataset exists). Then the same through ml(dataset=<the class>) for one epoch: the bytes of the Replay
   ml() built, and the path it recorded. Target <= 160 MB; the reference: the float32 size (614 MB).
4. Cost growth. Streamed Datasets of 10^3 .. 10^6 small samples (3x32x32 float32 made from the index; --quick:
   up to 10^5), each an ml(stream=true, train_steps=20, batch_size=128) in a process of its own: the time from
   ml() to the first learn call, split into its parts (each timed by a wrapper around antelope's own function,
   which is then called as it is: opening the splits, stream.choose, the spec's sample, the dataset
   fingerprint, the MLflow run's start and its dataset inputs), the first batch, and the peak memory of the
   process tree until the first step, in training and over the whole run (whose end evaluates the 20% test
   split), as a table, followed by what grows per sample and why.

How long, on a 2-core machine shared with other work: --quick about 2-3 minutes; the full run about 12-15
minutes (1: ~9-10 min, 6 runs of 500 steps; 2: ~1 min; 3: ~0.5 min; 4: ~1.5 min; making the 20,000 JPEGs,
140 MB, ~15 s the first time). Steps and sizes are fixed, so a machine with more cores finishes sooner.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import torch
from torch import nn
from torch.nn.functional import cross_entropy

HERE = os.path.abspath(__file__)
BATCH = 128
IMAGE_SIZE = 64
CLASSES = 10
RSS_INTERVAL = 0.05  # seconds between RSS samples of the process tree
PSS_INTERVAL = 0.25  # seconds between PSS samples (each walks the page tables: ~20 ms per GB mapped)
MB, GB = 1e6, 1e9


# --- models ------------------------------------------------------------------------------------------------

STAMPS = {}  # step -> time.perf_counter(), at the steps in WINDOW
WINDOW = set()


def stamp(step, cuda):
    if step in WINDOW:
        if cuda:
            torch.cuda.synchronize()
        STAMPS[step] = time.perf_counter()


class SmallConv(nn.Module):
    """A small conv net for 64x64 images: three strided convolutions, pooling, a linear layer."""

    def __init__(self, in_channels, out_features):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(64, out_features),
        )
        self.steps = 0

    def forward(self, x):
        return self.net(x)

    def learn(self, replay):
        self.steps += 1
        stamp(self.steps, next(self.parameters()).is_cuda)
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)


MARKS = {}  # what the children's models record: the first and last learn calls, the replay they were given


class Probe(nn.Module):
    """A cheap model that records when learn is first and last called, and the replay it draws from."""

    def __init__(self, in_channels, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(in_channels * 16, out_features))

    def forward(self, x):
        return self.net(x)

    def learn(self, replay):
        now = time.time()
        if "first_learn" not in MARKS:
            MARKS["first_learn"] = now
            MARKS["replay"] = replay
            started = time.perf_counter()
            batch = next(replay)
            MARKS["first_batch_s"] = time.perf_counter() - started
            MARKS["first_process"] = own_memory()  # after the first batch: with the workers it started
        else:
            batch = next(replay)
        MARKS["last_learn"] = now
        return cross_entropy(self(batch.obs), batch.label)


# --- datasets ----------------------------------------------------------------------------------------------


class LazyLarge(torch.utils.data.Dataset):
    """`n` samples of `shape` float32 made from their index (seeded noise), never held: 3x224x224 is 602 KB."""

    def __init__(self, n=17000, shape=(3, 224, 224)):
        self.n, self.shape = n, tuple(shape)

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        generator = torch.Generator().manual_seed(index)
        return torch.rand(self.shape, generator=generator), index % CLASSES


class LazySmall(torch.utils.data.Dataset):
    """`n` samples of 3x32x32 float32 made from their index, cheaply (a constant image per index)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return torch.full((3, 32, 32), (index % 997) / 997), index % CLASSES


class CifarLike(torch.utils.data.Dataset):
    """As torchvision's CIFAR10 is: `.data` (N, 32, 32, 3) uint8, `.targets` a list of ints, `.classes`, and
    samples (PIL image, int). Random pixels; 50,000 training and 10,000 test samples."""

    def __init__(self, train=True, n=None):
        import numpy

        n = n or (50000 if train else 10000)
        rng = numpy.random.default_rng(0 if train else 1)
        self.data = rng.integers(0, 256, (n, 32, 32, 3), dtype=numpy.uint8)
        self.targets = rng.integers(0, CLASSES, n).tolist()
        self.classes = [str(c) for c in range(CLASSES)]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        from PIL import Image

        return Image.fromarray(self.data[index]), self.targets[index]


# --- the JPEG folder ---------------------------------------------------------------------------------------


def _write_jpegs(arguments):
    """Writes images start..stop-1 of the folder: a smooth random picture with some grain, 48..160 px a side."""
    import numpy
    from PIL import Image

    folder, start, stop = arguments
    for index in range(start, stop):
        rng = numpy.random.default_rng(index)
        width, height = (int(s) for s in rng.integers(48, 161, 2))
        coarse = rng.integers(0, 256, (height // 8 + 2, width // 8 + 2, 3), dtype=numpy.uint8)
        image = numpy.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR), dtype=numpy.int16)
        image = (image + rng.integers(-12, 13, image.shape)).clip(0, 255).astype(numpy.uint8)
        Image.fromarray(image).save(os.path.join(folder, f"class_{index % CLASSES}", f"{index:07d}.jpg"), quality=90)


def jpeg_folder(root, n):
    """A folder of `n` JPEGs in CLASSES subfolders under `root`, made once (a marker file says it is complete)."""
    import multiprocessing

    folder = os.path.join(root, f"antelope_bench_jpegs_{n}")
    marker = os.path.join(folder, "complete.json")
    if os.path.exists(marker):
        return folder, 0.0
    for c in range(CLASSES):
        os.makedirs(os.path.join(folder, f"class_{c}"), exist_ok=True)
    started = time.perf_counter()
    chunk = 500
    with multiprocessing.get_context("fork").Pool(min(4, os.cpu_count() or 1)) as pool:
        pool.map(_write_jpegs, [(folder, s, min(s + chunk, n)) for s in range(0, n, chunk)])
    with open(marker, "w") as file:
        json.dump({"images": n}, file)
    return folder, time.perf_counter() - started


# --- measuring memory --------------------------------------------------------------------------------------

PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss(pid):
    with open(f"/proc/{pid}/statm") as file:
        return int(file.read().split()[1]) * PAGE


def _rollup(pid):
    """(PSS, USS) of a process in bytes, from /proc/PID/smaps_rollup."""
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as file:
        for line in file:
            key, _, value = line.partition(":")
            if key in ("Pss", "Private_Clean", "Private_Dirty"):
                values[key] = int(value.split()[0]) * 1024
    return values.get("Pss", 0), values.get("Private_Clean", 0) + values.get("Private_Dirty", 0)


def own_memory():
    """This process's RSS and USS, and its children's (the DataLoader workers) RSS and PSS, in bytes."""
    import psutil

    children = psutil.Process().children(recursive=True)
    rss, pss = 0, 0
    for child in children:
        try:
            rss, pss = rss + _rss(child.pid), pss + _rollup(child.pid)[0]
        except OSError:
            pass
    return {
        "rss": _rss(os.getpid()),
        "uss": _rollup(os.getpid())[1],
        "children": len(children),
        "children_rss": rss,
        "children_pss": pss,
    }


class TreeMemory(threading.Thread):
    """Samples the memory of process `pid` and its descendants until stopped: (time.time(), RSS sum, processes)
    every RSS_INTERVAL, and (time.time(), PSS sum) every PSS_INTERVAL."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.rss, self.pss, self._halt = pid, [], [], threading.Event()

    def _tree(self):
        import psutil

        try:
            root = psutil.Process(self.pid)
            return [self.pid] + [p.pid for p in root.children(recursive=True)]
        except psutil.Error:
            return []

    def run(self):
        next_pss = 0.0
        while not self._halt.is_set():
            pids, now = self._tree(), time.time()
            total = 0
            for pid in pids:
                try:
                    total += _rss(pid)
                except OSError:
                    pass
            if pids:
                self.rss.append((now, total, len(pids)))
            if now >= next_pss and pids:
                each = {}
                for pid in pids:
                    try:
                        each[pid] = _rollup(pid)[0]
                    except OSError:
                        pass
                self.pss.append((time.time(), sum(each.values()), each))
                next_pss = time.time() + PSS_INTERVAL
            self._halt.wait(RSS_INTERVAL)

    def stop(self):
        self._halt.set()
        self.join()

    def peak(self, start=None, end=None, pss=False):
        """The largest sum between the times `start` and `end` (all when None), in bytes (0 if no sample)."""
        samples = self.pss if pss else self.rss
        values = [s[1] for s in samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
        return max(values, default=0)

    def where(self, start=None, end=None):
        """'main X GB + N others Y GB' at the largest PSS sum between `start` and `end`."""
        samples = [s for s in self.pss if (start is None or s[0] >= start) and (end is None or s[0] <= end)]
        if not samples:
            return "no sample"
        _, total, each = max(samples, key=lambda s: s[1])
        main = each.get(self.pid, 0)
        others = sorted((v for pid, v in each.items() if pid != self.pid), reverse=True)
        return (
            (f"main {main / GB:.2f} GB + {len(others)} workers " + " + ".join(f"{v / GB:.2f}" for v in others) + " GB")
            if others
            else f"main {main / GB:.2f} GB"
        )

    def processes(self):
        return max((s[2] for s in self.rss), default=0)


class OwnPeak(threading.Thread):
    """This process's RSS, sampled every `interval` seconds until stopped: its peak."""

    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval, self.peak, self._halt = interval, _rss(os.getpid()), threading.Event()

    def run(self):
        while not self._halt.is_set():
            self.peak = max(self.peak, _rss(os.getpid()))
            self._halt.wait(self.interval)

    def stop(self):
        self._halt.set()
        self.join()
        self.peak = max(self.peak, _rss(os.getpid()))
        return self.peak


def in_child(kind, spec, folder, args):
    """Runs `kind` in a process of its own (this file with --child), sampling its process tree's memory:
    (the child's results, the TreeMemory)."""
    out = os.path.join(folder, f"{kind}-{spec.get('n', 0)}-{time.time_ns()}.json")
    log = out[:-5] + ".log"
    command = [
        sys.executable,
        HERE,
        "--child",
        kind,
        "--spec",
        json.dumps(spec),
        "--out",
        out,
        "--threads",
        str(args.threads),
        "--workers",
        str(args.workers),
        "--device",
        args.device,
    ]
    with open(log, "w") as stderr:
        process = subprocess.Popen(command, stdout=stderr, stderr=stderr, cwd=folder)
        memory = TreeMemory(process.pid)
        memory.start()
        code = process.wait()
        memory.stop()
    if code != 0 or not os.path.exists(out):
        with open(log) as file:
            tail = file.read()[-3000:]
        raise RuntimeError(
            f"the child process for {kind} {spec} failed (exit status {code}); its log {log} ends:\n{tail}"
        )
    with open(out) as file:
        return json.load(file), memory


# --- the children ------------------------------------------------------------------------------------------


def warm_up():
    """One-time costs of a process, outside what is timed: imports, MLflow's store opened (migrated already)."""
    import importlib

    from mlflow import MlflowClient

    for module in ("torchvision.transforms.v2.functional", "antelope", "antelope.data.stream"):
        importlib.import_module(module)
    MlflowClient().search_experiments()


def run_tags(run_id):
    from mlflow import MlflowClient

    tags = MlflowClient().get_run(run_id).data.tags
    return tags.get("antelope.data"), tags.get("antelope.data.why")


def child_large(spec, args):
    """Item 2's run: the large lazy dataset, stream chosen by antelope (or forced when it would not stream)."""
    from antelope import ml
    from antelope.data import datasets, stream

    warm_up()
    dataset = LazyLarge(spec["n"])
    device = torch.device(args.device)
    auto, why = stream.choose(None, datasets.open_splits(dataset, objects={"dataset": dataset}), device)
    times = {}
    timing_wrappers(times)
    keys = dict(
        model=Probe,
        dataset=dataset,
        data_workers=args.workers,
        batch_size=spec["batch_size"],
        train_steps=spec["steps"],
        evaluate_per_steps=0,
        save_per_steps=10**9,
        threads=args.threads,
        device=args.device,
        experiment="bench_data_large",
    )
    if not auto:
        keys["stream"] = True
    called = time.time()
    result = ml(**keys)
    returned = time.time()
    path, reason = run_tags(result.run_id)
    return {
        "called": called,
        "returned": returned,
        "first_learn": MARKS["first_learn"],
        "last_learn": MARKS["last_learn"],
        "first_process": MARKS["first_process"],
        "auto": auto,
        "times": times,
        "first_batch_s": MARKS["first_batch_s"],
        "auto_why": why,
        "path": path,
        "why": reason,
        "forced": not auto,
        "sample_bytes": 3 * 224 * 224 * 4,
    }


def child_cifar(spec, args):
    """Item 3: into_memory + Replay + one epoch, RSS growth; then the same through ml()."""
    import gc

    from antelope import ml
    from antelope.data import samples
    from antelope.data.replay import Replay

    warm_up()
    device = torch.device("cpu")
    small = CifarLike(n=100)  # the warm-up: every lazy import and first-call cost of the path, on 100 samples
    split = samples.into_memory(small)
    replay = Replay(split.obs, split.label, 32, device, 0)
    for _ in range(len(replay) + 1):
        next(replay)
    del small, split, replay
    dataset = CifarLike(train=True)
    gc.collect()
    baseline = _rss(os.getpid())
    peak = OwnPeak()
    peak.start()
    started = time.perf_counter()
    split = samples.into_memory(dataset)
    read = time.perf_counter() - started
    replay = Replay(split.obs, split.label, BATCH, device, 0)
    for _ in range(len(replay)):
        next(replay)
    epoch = time.perf_counter() - started - read
    highest = peak.stop()
    after = _rss(os.getpid())
    held = split.obs.nbytes + split.label.nbytes
    direct = {
        "held": held,
        "obs_dtype": str(split.obs.dtype),
        "obs_shape": list(split.obs.shape),
        "label_dtype": str(split.label.dtype),
        "growth_peak": highest - baseline,
        "growth_after": after - baseline,
        "read_s": read,
        "epoch_s": epoch,
        "replay_batches": len(replay),
        "n": len(dataset),
        "float32": len(dataset) * 3 * 32 * 32 * 4,
    }
    del split, replay, dataset
    gc.collect()
    MARKS.clear()
    result = ml(
        model=Probe,
        dataset=CifarLike,
        batch_size=BATCH,
        train_steps=50000 // BATCH,
        evaluate_per_steps=0,
        save_per_steps=10**9,
        threads=args.threads,
        device=args.device,
        data_workers=args.workers,
        experiment="bench_data_cifar",
    )
    built = MARKS["replay"]
    path, reason = run_tags(result.run_id)
    through_ml = {
        "type": type(built).__name__,
        "held": built.obs.nbytes + built.label.nbytes,
        "obs_dtype": str(built.obs.dtype),
        "path": path,
        "why": reason,
    }
    return {"direct": direct, "ml": through_ml}


PHASES = [
    ("open", "antelope.data.datasets", "open_splits"),
    ("choose", "antelope.data.stream", "choose"),
    ("sample", "antelope.data.samples", "sample"),
    ("fingerprint", "antelope.data.datasets", "fingerprint"),
    ("run start", "antelope.tracking", "Run.start"),
    ("log_datasets", "antelope.tracking", "log_datasets"),
]


def timing_wrappers(times):
    """Wraps the functions of PHASES (attributes that ml() looks up at each call) so that the seconds spent
    in each are added to `times`; each is called as it is."""
    import importlib

    for name, module, attribute in PHASES:
        module = importlib.import_module(module)
        if "." in attribute:  # a classmethod: wrapped as a staticmethod calling the bound original
            owner, attribute = attribute.split(".")
            module = getattr(module, owner)
            function = getattr(module, attribute)
            setattr(module, attribute, staticmethod(_timed(function, name, times)))
            continue
        setattr(module, attribute, _timed(getattr(module, attribute), name, times))


def _timed(function, name, times):
    def timed(*a, **k):
        started = time.perf_counter()
        try:
            return function(*a, **k)
        finally:
            times[name] = times.get(name, 0.0) + time.perf_counter() - started

    return timed


def _list_bytes(values):
    """A list of Python ints: the list and its int objects (those past 256, which Python does not share)."""
    return sys.getsizeof(values) + sum(sys.getsizeof(v) for v in values if not -5 <= v <= 256)


def child_growth(spec, args):
    """Item 4's run: a streamed lazy dataset of spec['n'] small samples, its start-up split into parts."""
    from antelope import ml

    warm_up()
    times = {}
    timing_wrappers(times)
    dataset = LazySmall(spec["n"])
    called = time.time()
    result = ml(
        model=Probe,
        dataset=dataset,
        stream=True,
        data_workers=args.workers,
        batch_size=BATCH,
        train_steps=spec["steps"],
        evaluate_per_steps=0,
        save_per_steps=10**9,
        threads=args.threads,
        device=args.device,
        experiment="bench_data_growth",
    )
    returned = time.time()
    replay = MARKS["replay"]
    indices = getattr(replay.dataset, "indices", None)  # the training Subset's index list
    return {
        "called": called,
        "returned": returned,
        "first_learn": MARKS["first_learn"],
        "last_learn": MARKS["last_learn"],
        "first_batch_s": MARKS["first_batch_s"],
        "times": times,
        "first_process": MARKS["first_process"],
        "train_index_bytes": _list_bytes(indices) if isinstance(indices, list) else 0,
        "train_samples": len(replay.dataset),
        "path": run_tags(result.run_id)[0],
    }


def child(kind, spec, out, args):
    torch.set_num_threads(args.threads)
    os.environ.setdefault("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "10")
    function = {"large": child_large, "cifar": child_cifar, "growth": child_growth}[kind]
    results = function(spec, args)
    with open(out, "w") as file:
        json.dump(results, file)


# --- 1. streaming throughput -------------------------------------------------------------------------------


def ours_images(folder, steps, first, args):
    """Samples per second of ml() streaming the folder, between steps `first` and `steps`."""
    from antelope import ml

    STAMPS.clear()
    WINDOW.clear()
    WINDOW.update({first, steps})
    ml(
        model=SmallConv,
        dataset=folder,
        stream=True,
        image_size=IMAGE_SIZE,
        data_workers=args.workers,
        transform=["RandomHorizontalFlip"],
        batch_size=BATCH,
        train_steps=steps,
        evaluate_per_steps=0,
        save_per_steps=10**9,
        threads=args.threads,
        device=args.device,
        experiment="bench_data_images",
    )
    return (steps - first) * BATCH / (STAMPS[steps] - STAMPS[first])


def reference_images(folder, train_indices, steps, first, args):
    """Samples per second of a hand-written DataLoader + loop over the same files, between `first` and `steps`."""
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    STAMPS.clear()
    WINDOW.clear()
    WINDOW.update({first, steps})
    cuda = args.device.startswith("cuda")
    transform = v2.Compose(
        [
            v2.Resize(IMAGE_SIZE),
            v2.CenterCrop(IMAGE_SIZE),
            v2.RandomHorizontalFlip(),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    dataset = torch.utils.data.Subset(ImageFolder(folder, transform=transform), train_indices)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=True,
        drop_last=True,
        num_workers=args.workers,
        pin_memory=cuda,
        persistent_workers=args.workers > 0,
    )
    torch.manual_seed(0)
    model = SmallConv(3, CLASSES).to(args.device)
    optimizer = torch.optim.Adam(model.parameters())
    model.train()
    step = 0
    while step < steps:
        for x, y in loader:
            step += 1
            stamp(step, cuda)
            x, y = x.to(args.device, non_blocking=True), y.to(args.device, non_blocking=True)
            loss = cross_entropy(model(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step == steps:
                break
    if cuda:
        torch.cuda.synchronize()
    del loader  # its persistent workers end with it
    return (steps - first) * BATCH / (STAMPS[steps] - STAMPS[first])


def throughput(args, folder_root):
    from antelope.data import datasets

    n, steps, first, repeats = (2000, 40, 10, 2) if args.quick else (20000, 500, 100, 3)
    n, steps = args.images or n, args.steps or steps
    first = min(first, steps // 4)
    folder, made = jpeg_folder(folder_root, n)
    print(f"1. JPEG folder {folder}: {n} images" + (f", made in {made:.0f} s" if made else ", made before"), flush=True)
    train = datasets.open_splits(folder).train.indices  # antelope's training files: the reference reads the same
    pairs = []
    for repeat in range(repeats):
        order = [
            ("ours", lambda: ours_images(folder, steps, first, args)),
            ("reference", lambda: reference_images(folder, train, steps, first, args)),
        ]
        measured = dict((name, function()) for name, function in (order if repeat % 2 == 0 else order[::-1]))
        pairs.append((measured["ours"], measured["reference"]))
        print(
            f"   repeat {repeat + 1}: ours {measured['ours']:.0f}, reference {measured['reference']:.0f} samples/s",
            flush=True,
        )
    report(
        f"1. streaming throughput, {n} JPEGs 48..160 px -> {IMAGE_SIZE}, {args.workers} workers, batch {BATCH}, "
        f"steps {first}..{steps}, {args.device} [samples/s]",
        (
            statistics.median(o for o, _ in pairs),
            statistics.median(r for _, r in pairs),
            statistics.median(o / r for o, r in pairs),
        ),
        "target >= 0.95",
    )


# --- 2. memory stays bounded -------------------------------------------------------------------------------


def bounded(args, folder):
    n, steps, batch_size = 17000, (50 if args.quick else 200), 64
    results, memory = in_child("large", {"n": n, "steps": steps, "batch_size": batch_size}, folder, args)
    materialized = n * results["sample_bytes"]
    how = (
        "stream left to antelope"
        if not results["forced"]
        else f"stream=true given: antelope would hold it in memory here ({results['auto_why']})"
    )
    print(
        f"2. {n} lazy samples of 3x224x224 float32, {steps} steps of {batch_size}, {args.workers} workers; "
        f"{how}. antelope chose: {results['path']} ({results['why']})",
        flush=True,
    )
    start, first, last, end = results["called"], results["first_learn"], results["last_learn"], results["returned"]
    phases = [
        ("until the first step", start, first),
        ("training", first, last),
        (f"the end (evaluation of the {n // 5} test samples, the logged model)", last, end),
    ]
    for label, a, b in phases:
        print(
            f"   peak in {label}: RSS sum {memory.peak(a, b) / GB:.2f} GB, PSS sum "
            f"{memory.peak(a, b, pss=True) / GB:.2f} GB ({memory.where(a, b)})",
            flush=True,
        )
    parts = {name: results["times"].get(name, 0.0) for name, _, _ in PHASES}
    print(
        "   ml() to the first learn call, in antelope's functions: "
        + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in parts.items())
        + f", the rest {first - start - sum(parts.values()):.2f} s; then the first batch "
        f"{results['first_batch_s']:.2f} s",
        flush=True,
    )
    print(
        f"   at the first step: main process RSS {results['first_process']['rss'] / GB:.2f} GB (USS "
        f"{results['first_process']['uss'] / GB:.2f} GB), {results['first_process']['children']} workers RSS "
        f"{results['first_process']['children_rss'] / GB:.2f} GB (PSS "
        f"{results['first_process']['children_pss'] / GB:.2f} GB);"
        f" {memory.processes()} processes at most",
        flush=True,
    )
    peak_rss, peak_pss = memory.peak(start, end), memory.peak(start, end, pss=True)
    report(
        "2. peak RSS sum of the process tree, whole run / materialized float32 [GB]",
        (peak_rss / GB, materialized / GB, peak_rss / materialized),
        "target: peak < 3 GB",
    )
    report(
        "2. peak PSS sum of the process tree, whole run / materialized float32 [GB]",
        (peak_pss / GB, materialized / GB, peak_pss / materialized),
        "target: peak < 3 GB",
    )
    seconds = first - start
    report("2. ml() to the first learn call [s]", (seconds, 10.0, seconds / 10), "target < 10 s")


# --- 3. in-memory compactness ------------------------------------------------------------------------------


def compact(args, folder):
    results, _ = in_child("cifar", {}, folder, args)
    direct, through_ml = results["direct"], results["ml"]
    print(
        f"3. CIFAR-10-shaped Dataset, {direct['n']} training samples: into_memory read it in "
        f"{direct['read_s']:.2f} s "
        f"as {direct['obs_dtype']} {tuple(direct['obs_shape'])} + {direct['label_dtype']} labels; one epoch "
        f"({direct['replay_batches']} batches of {BATCH}) drawn in {direct['epoch_s']:.2f} s; RSS after it "
        f"{direct['growth_after'] / MB:.0f} MB over the baseline",
        flush=True,
    )
    report(
        "3. bytes the training split holds (obs + label) / float32 [MB]",
        (direct["held"] / MB, direct["float32"] / MB, direct["held"] / direct["float32"]),
        "target <= 160 MB",
    )
    report(
        "3. RSS growth, into_memory + Replay + one epoch (peak) / float32 [MB]",
        (direct["growth_peak"] / MB, direct["float32"] / MB, direct["growth_peak"] / direct["float32"]),
        "target <= 160 MB",
    )
    report(
        f"3. bytes the Replay built by ml(dataset=<class>) holds ({through_ml['type']}, {through_ml['obs_dtype']}, "
        f"{through_ml['path']}) / float32 [MB]",
        (through_ml["held"] / MB, direct["float32"] / MB, through_ml["held"] / direct["float32"]),
        "target <= 160 MB",
    )


# --- 4. cost growth ----------------------------------------------------------------------------------------


def growth(args, folder):
    import pandas

    sizes = [10**3, 10**4, 10**5] + ([] if args.quick else [10**6])
    steps = 20
    rows = []
    for n in sizes:
        results, memory = in_child("growth", {"n": n, "steps": steps}, folder, args)
        start, first, end = results["called"], results["first_learn"], results["returned"]
        times = results["times"]
        first_step = first - start
        parts = {f"{name} s": times.get(name, 0.0) for name, _, _ in PHASES}
        last = results["last_learn"]
        rows.append(
            {
                "samples": n,
                "step 1 s": first_step,
                **parts,
                "other s": first_step - sum(parts.values()),
                "batch 1 s": results["first_batch_s"],
                "run s": end - start,
                "RSS to step 1 MB": memory.peak(start, first) / MB,
                "PSS to step 1 MB": memory.peak(start, first, pss=True) / MB,
                "PSS training MB": memory.peak(first, last, pss=True) / MB,
                "PSS run MB": memory.peak(start, end, pss=True) / MB,
                "main RSS step 1 MB": results["first_process"]["rss"] / MB,
                "index list MB": results["train_index_bytes"] / MB,
                "train samples": results["train_samples"],
            }
        )
        print(
            f"   {n} samples: first step {first_step:.2f} s, peak PSS {rows[-1]['PSS run MB']:.0f} MB "
            f"({memory.where(start, end)}), run {end - start:.1f} s ({results['path']})",
            flush=True,
        )
    table = pandas.DataFrame(rows).drop(columns=["train samples"]).set_index("samples")
    print(
        f"4. streamed lazy datasets of 3x32x32 float32 samples, {steps} steps of {BATCH}, {args.workers} workers "
        f"(the first step's parts: time in antelope's own functions; 'first batch' is the model's first "
        f"next(replay), which starts the workers; peaks: the process tree):"
    )
    with pandas.option_context("display.width", 250, "display.max_columns", 30):
        print(table.to_string(float_format=lambda v: f"{v:.3g}"))
    small, large = rows[0], rows[-1]
    extra = large["samples"] - small["samples"]
    index_per_sample = large["index list MB"] * MB / large["train samples"]

    def per_sample(column, scale=MB):
        return (large[column] - small[column]) * scale / extra

    print(
        f"   per sample beyond {small['samples']} (from the {large['samples']} row): first step "
        f"{per_sample('step 1 s', 1e6):+.2f} us; peak PSS of the tree to step 1 "
        f"{per_sample('PSS to step 1 MB'):+.0f} B, "
        f"in training {per_sample('PSS training MB'):+.0f} B, over the run {per_sample('PSS run MB'):+.0f} B; main "
        f"process RSS at step 1 {per_sample('main RSS step 1 MB'):+.0f} B; the training Subset's index list "
        f"{index_per_sample:.0f} B a training sample"
    )
    grew = [(large[f"{name} s"] - small[f"{name} s"], name) for name, _, _ in PHASES]
    grew += [(large["other s"] - small["other s"], "other"), (large["batch 1 s"] - small["batch 1 s"], "batch 1")]
    grew.sort(reverse=True)
    print("   what grows, largest first: " + ", ".join(f"{name} {seconds:+.3f} s" for seconds, name in grew))
    print(f"""   why: what antelope keeps or makes per sample of a streamed Dataset without a test split of its own
   - datasets._holdout: the 80/20 split as two torch Subsets whose indices are Python lists (train.tolist()):
     {index_per_sample:.0f} B a sample measured (an 8-byte pointer and an int object), for the whole run in the main
     process; forked workers share them, but reading an int writes its reference count, so over an epoch each
     worker may come to hold its own copy of the pages it read (copy-on-access);
   - stream.Stream: the indices again as an int64 tensor (8 B a sample), and each epoch's order as a tensor
     and a Python list (stream._Order: randperm, then .tolist()), made in the main process as the epoch starts
     (the first batch waits for it);
   - stream.Evaluation: the test split's keys as a Python list (list(range(n)); (index, seed) tuples with
     eval_transform=);
   - datasets.fingerprint: the Subsets' indices copied into new lists once, at the start (two list
     comprehensions over every sample); samples.sample and the holdout: a randperm of the whole dataset each.""")
    end_growth = per_sample("PSS run MB") - max(per_sample("PSS training MB"), 0)
    if end_growth > 4 * index_per_sample:
        print(
            f"   the run's peak grows past the training's by {end_growth:.0f} B per sample: the end, where the "
            f"evaluation's worker processes read the test split ({large['samples'] // 5} samples at the largest) in "
            f"batches of 1024. That is no index structure: a worker's heap grows batch after batch (collate's "
            f"torch.stack makes each batch outside shared memory, then the DataLoader copies it there; glibc "
            f"keeps the freed memory). See the peaks' holders above.",
            flush=True,
        )


# --- main --------------------------------------------------------------------------------------------------


def report(name, measured, target):
    ours_, reference, ratio = measured
    print(f"{name}: {ours_:.6g} / {reference:.6g} = {ratio:.3f} ({target})", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller: 2,000 JPEGs, fewer steps, sizes up to 10^5")
    parser.add_argument("--only", type=int, choices=[1, 2, 3, 4], help="run one measurement")
    parser.add_argument("--data", default=tempfile.gettempdir(), help="where the JPEG folder is made and kept")
    parser.add_argument("--threads", type=int, default=1, help="torch's intra-op threads (default 1)")
    parser.add_argument(
        "--workers",
        type=int,
        help="DataLoader worker processes (default: antelope's, min(8, the CPUs this process may use))",
    )
    parser.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    parser.add_argument("--images", type=int, help="JPEGs in the folder of 1 (default 20,000; --quick 2,000)")
    parser.add_argument("--steps", type=int, help="training steps of each run of 1 (default 500; --quick 40)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workers is None:
        from antelope.data.stream import default_workers

        args.workers = default_workers()
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.child:
        return child(args.child, json.loads(args.spec), args.out, args)
    torch.set_num_threads(args.threads)
    folder = tempfile.mkdtemp(prefix="bench_data_")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder}/mlflow.db"
    os.chdir(folder)  # MLflow's artifacts (./mlruns) of this benchmark's runs
    log = open(os.path.join(folder, "ml.log"), "w")
    print(
        f"machine: {os.cpu_count()} CPU cores ({len(os.sched_getaffinity(0))} usable), torch {torch.__version__}, "
        f"{torch.cuda.get_device_name() if args.device.startswith('cuda') else 'CPU'}; torch threads pinned to "
        f"{args.threads} (torch.set_num_threads, and threads= for ml()) in every process; {args.workers} DataLoader "
        f"workers; MLflow store {os.environ['MLFLOW_TRACKING_URI']} (removed at the end); ml()'s output in "
        f"{log.name}",
        flush=True,
    )
    import logging

    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its lines about creating the store's tables
    MlflowClient().search_experiments()  # the fresh store's migrations, once, before anything is timed
    stderr, sys.stderr = sys.stderr, log  # ml()'s progress lines
    started = time.perf_counter()
    try:
        for number, measure in (
            (1, lambda: throughput(args, args.data)),
            (2, lambda: bounded(args, folder)),
            (3, lambda: compact(args, folder)),
            (4, lambda: growth(args, folder)),
        ):
            if args.only in (None, number):
                measure()
    except BaseException:
        sys.stderr = stderr
        print(f"failed: the runs' store, artifacts and ml()'s output are kept in {folder}", file=sys.stderr)
        raise
    sys.stderr = stderr
    os.chdir(tempfile.gettempdir())
    shutil.rmtree(folder, ignore_errors=True)  # the runs' store and artifacts (logged models): not needed after
    print(f"done in {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main()
