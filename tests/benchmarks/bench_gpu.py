"""The trainer on a GPU against hand-written loops over the same tensors, measured side by side in one process.

    python tests/benchmarks/bench_gpu.py           # on a CUDA device (tests/gpu/run.sh runs it there)
    python tests/benchmarks/bench_gpu.py --quick   # every item on the CPU, small: a check that it runs

Prints each item as `name: ours / reference = ratio (target)`, the medians of paired repeats (ours and the
reference alternate, so both see the same machine), and the ratio's median:
1. step time of a CIFAR-sized ResNet-style network, batch 512, synthetic CIFAR-shaped data on the GPU, tracking on,
   against a hand-written loop over the same tensors (target <= 1.05);
2. the same with precision=bf16, and with compile=true, each against its hand-written equivalent (<= 1.05);
3. tracking on / tracking off (<= 1.02);
4. samples per second and peak GPU memory of the default agent on CIFAR-shaped data (figures, no reference);
5. a fast CIFAR-10 recipe in the manner of airbench94 (its kind of network: a whitening conv and three conv groups
   with batch norm and GELU; batch 1024; label smoothing; Nesterov SGD with a warm-up then linear decay; flip and
   translate augmentation on GPU-resident data) through ml() as a user writes it (a model that keeps its own
   optimizer) against the same recipe written by hand: seconds per epoch in the same process (<= 1.10).
Step times are taken between two steps of one run with the device synchronized at both, so start-up, evaluation and
the model's logging at the end are outside them. Threads: torch's are pinned to 1 on the CPU (--quick); on a GPU the
CPU only feeds it. Not a test: nothing asserts.
"""

import os
import statistics
import sys
import tempfile
import time

import torch
from torch import nn
from torch.nn.functional import cross_entropy

QUICK = "--quick" in sys.argv
DEVICE = "cpu" if QUICK or not torch.cuda.is_available() else "cuda"
REPEATS = 1 if QUICK else 3
BATCH = 16 if QUICK else 512
FIRST, LAST = (2, 6) if QUICK else (30, 230)  # the steps between which a step time is taken
SAMPLES = 1024 if QUICK else 50_000


class SyntheticCifar(torch.utils.data.Dataset):
    """CIFAR-shaped uint8 images (3, 32, 32), 10 classes, made here; `data`/`targets` as torchvision's CIFAR10, so
    that antelope reads them whole and holds them on the device as uint8."""

    def __init__(self, train=True, n=None):
        n = n or (SAMPLES if train else SAMPLES // 5)
        generator = torch.Generator().manual_seed(0 if train else 1)
        self.targets = torch.randint(10, (n,), generator=generator)
        noise = torch.randint(0, 200, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
        self.data = noise + (self.targets * 5).to(torch.uint8)[:, None, None, None]  # a learnable hint

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return self.data[index], int(self.targets[index])


def conv_bn(c_in, c_out):
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU())


class Residual(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x):
        return x + self.body(x)


class ResNet(nn.Module):
    """A ResNet-9-style CIFAR network (the DAWNBench kind): 64-128-256-512 channels, two residual blocks."""

    def __init__(self, in_channels=3, out_features=10):
        super().__init__()
        width = 16 if QUICK else 64
        self.net = nn.Sequential(
            conv_bn(in_channels, width),
            conv_bn(width, 2 * width),
            nn.MaxPool2d(2),
            Residual(2 * width),
            conv_bn(2 * width, 4 * width),
            nn.MaxPool2d(2),
            conv_bn(4 * width, 8 * width),
            nn.MaxPool2d(2),
            Residual(8 * width),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(8 * width, out_features),
        )

    def forward(self, x):
        return self.net(x)

    def learn(self, replay):
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)


class Window:
    """Seconds per step between steps FIRST and LAST of one run, the device synchronized at both stamps."""

    def __init__(self):
        self.step, self.stamps = 0, {}

    def tick(self):
        self.step += 1
        if self.step in (FIRST, LAST):
            if DEVICE == "cuda":
                torch.cuda.synchronize()
            self.stamps[self.step] = time.perf_counter()

    def seconds(self):
        return (self.stamps[LAST] - self.stamps[FIRST]) / (LAST - FIRST)


def ticking(model_class, window):
    """The model class with a `learn` that ticks `window` first (with the same parameters as the class's own)."""
    import inspect

    if len(inspect.signature(model_class.learn).parameters) > 2:  # learn(self, replay, log)

        class Ticking(model_class):
            def learn(self, replay, log):
                window.tick()
                return super().learn(replay, log)

    else:

        class Ticking(model_class):  # type: ignore[no-redef]
            def learn(self, replay):
                window.tick()
                return super().learn(replay)

    Ticking.__name__ = model_class.__name__
    return Ticking


def short_run(model, window, batch_size, train_steps, **keys):
    """ml() training `model` on SyntheticCifar, in memory on the device, timed by `window` (no evaluation, no
    checkpoint: the steps alone)."""
    from antelope import ml

    ml(
        model=ticking(model, window),
        dataset=SyntheticCifar,
        batch_size=batch_size,
        train_steps=train_steps,
        evaluate_per_steps=0,
        save_per_steps=10**9,
        device=DEVICE,
        **keys,
    )


def ours(model_class, **keys):
    """Seconds per step of ml() training `model_class` on SyntheticCifar (in memory, on the device)."""
    window = Window()
    short_run(model_class, window, BATCH, LAST + 5, **keys)
    return window.seconds()


def hand_written(model_class, precision="fp32", compile=False):
    """Seconds per step of a plain loop over the same tensors on the device: uint8 batches made float on the device,
    Adam, the loss read back every 100 steps (as the trainer logs), autocast for bf16, torch.compile'd forward."""
    data = SyntheticCifar()
    obs, label = data.data.to(DEVICE), data.targets.to(DEVICE)
    model = model_class().to(DEVICE)
    if compile:
        model.compile()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    window, losses, order, position = Window(), [], torch.randperm(len(obs), device=DEVICE), 0
    for step in range(1, LAST + 6):
        window.tick()
        if position + BATCH > len(obs):
            order, position = torch.randperm(len(obs), device=DEVICE), 0
        index = order[position : position + BATCH]
        position += BATCH
        with torch.autocast(DEVICE, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = cross_entropy(model(obs[index].float() / 255), label[index])
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        if step % 100 == 0:
            torch.stack(losses).mean().item()
            losses.clear()
    return window.seconds()


def paired(ours_, reference, repeats=REPEATS):
    pairs = [(ours_(), reference()) for _ in range(repeats)]
    return (
        statistics.median(o for o, _ in pairs),
        statistics.median(r for _, r in pairs),
        statistics.median(o / r for o, r in pairs),
    )


def report(name, measured, target):
    mine, reference, ratio = measured
    print(f"{name}: {mine:.6g} / {reference:.6g} = {ratio:.3f} ({target})", flush=True)


def default_agent():
    """(samples per second, peak GPU memory in GiB) of the default agent on CIFAR-shaped data."""
    from antelope.agents import AC2Agent

    window = Window()
    if DEVICE == "cuda":
        torch.cuda.reset_peak_memory_stats()
    short_run(AC2Agent, window, BATCH, LAST + 5)
    peak = torch.cuda.max_memory_allocated() / (1 << 30) if DEVICE == "cuda" else float("nan")
    return BATCH / window.seconds(), peak


# --- 5. a fast CIFAR-10 recipe in the manner of airbench94 -----------------------------------------------------

RECIPE = dict(
    batch_size=256 if QUICK else 1024,
    epochs=2 if QUICK else 8,
    lr=11.5,
    momentum=0.85,
    weight_decay=0.0153,
    label_smoothing=0.2,
    widths=(16, 32, 32) if QUICK else (64, 256, 256),
)
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


class Group(nn.Module):
    """conv, max-pool, batch norm, GELU, conv, batch norm, GELU."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(c_out, momentum=0.4),
            nn.GELU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out, momentum=0.4),
            nn.GELU(),
        )

    def forward(self, x):
        return self.layers(x)


class Recipe(nn.Module):
    """The network: a 2x2 patch-whitening conv (set from the data, then fixed) and three conv groups; and, in `learn`,
    the recipe itself: normalized images, flip and translate augmentation on the device, label smoothing, Nesterov
    SGD with decoupled lr and weight decay (a larger lr for the batch-norm biases), warm-up then linear decay."""

    def __init__(self, in_channels=3, out_features=10, steps=None):
        super().__init__()
        b1, b2, b3 = RECIPE["widths"]
        self.whiten = nn.Conv2d(in_channels, 24, 2, padding=0, bias=True)
        self.body = nn.Sequential(
            nn.GELU(),
            Group(24, b1),
            Group(b1, b2),
            Group(b2, b3),
            nn.MaxPool2d(3),
            nn.Flatten(),
            nn.Linear(b3, out_features, bias=False),
        )
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1))
        self.steps, self.step, self.ready = steps or 1000, 0, False
        batch, momentum = RECIPE["batch_size"], RECIPE["momentum"]
        scale = batch * (1 + 1 / (1 - momentum))  # the lr and weight decay as given are per 1024 samples, decoupled
        lr, decay = RECIPE["lr"] / scale * batch / 1024, RECIPE["weight_decay"] * batch / scale
        norms = [p for name, p in self.named_parameters() if "layers" in name and p.dim() == 1]
        others = [p for name, p in self.named_parameters() if not any(p is q for q in norms) and "whiten" not in name]
        self.optim = torch.optim.SGD(
            [
                dict(params=norms, lr=lr * 64, weight_decay=decay / (lr * 64)),
                dict(params=others, lr=lr, weight_decay=decay / lr),
            ],
            momentum=momentum,
            nesterov=True,
        )
        self.base = [group["lr"] for group in self.optim.param_groups]

    def forward(self, x):
        return self.body(self.whiten((x - self.mean) / self.std)) / 9

    @torch.no_grad()
    def _whiten_from(self, images):
        """The whitening conv from the eigenvectors of the images' 2x2 patches (both signs)."""
        x = (images[:5000].float() - self.mean) / self.std
        patches = x.unfold(2, 2, 1).unfold(3, 2, 1).transpose(1, 3).reshape(-1, 3 * 4).double()
        values, vectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        weight = (vectors.T / (values[:, None] + 5e-4).sqrt()).reshape(12, 3, 2, 2).float()
        self.whiten.weight.copy_(torch.cat([weight, -weight]))
        self.whiten.weight.requires_grad_(False)
        self.ready = True

    def learn(self, replay, log):
        batch = next(replay)
        if not self.ready:
            self._whiten_from(batch.obs)
        x = augmented(batch.obs)
        loss = cross_entropy(self(x), batch.label, label_smoothing=RECIPE["label_smoothing"], reduction="none").sum()
        self.optim.zero_grad(set_to_none=True)
        loss.backward()
        self.step += 1
        fraction = self.step / self.steps  # warm-up over the first 20%, then linear decay to 0
        for group, base in zip(self.optim.param_groups, self.base, strict=True):
            group["lr"] = base * min(fraction / 0.2, (1 - fraction) / 0.8)
        self.optim.step()
        log.loss = loss / len(x)


def augmented(x, pad=2):
    """Random left-right flips and translations by up to `pad` pixels, on the device, a batch at once."""
    flip = torch.rand(len(x), device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = nn.functional.pad(x, (pad,) * 4, mode="reflect")
    dy, dx = torch.randint(0, 2 * pad + 1, (2,)).tolist()  # one shift per batch keeps it one copy
    return padded[:, :, dy : dy + x.shape[2], dx : dx + x.shape[3]]


def recipe_through_ml():
    """Seconds per epoch of the recipe through ml(), after its first epoch."""
    per_epoch = len(SyntheticCifar()) // RECIPE["batch_size"]
    steps = per_epoch * RECIPE["epochs"]
    window = EpochWindow(per_epoch)
    short_run(Recipe, window, RECIPE["batch_size"], steps + 1, **{"model.steps": steps})
    return window.seconds()


def recipe_by_hand():
    """Seconds per epoch of the same recipe written by hand over the same tensors, after its first epoch."""
    data = SyntheticCifar()
    obs, label = data.data.to(DEVICE), data.targets.to(DEVICE)
    per_epoch = len(obs) // RECIPE["batch_size"]
    model = Recipe(steps=per_epoch * RECIPE["epochs"]).to(DEVICE)
    model.train()
    window, losses = EpochWindow(per_epoch), []

    class Log:
        loss = None

    log = Log()
    for _ in range(RECIPE["epochs"]):
        order = torch.randperm(len(obs), device=DEVICE)
        for i in range(per_epoch):
            window.tick()
            index = order[i * RECIPE["batch_size"] : (i + 1) * RECIPE["batch_size"]]
            model.learn(iter([Batch(obs[index].float() / 255, label[index])]), log)
            losses.append(log.loss.detach())
            if len(losses) == 100:
                torch.stack(losses).mean().item()
                losses.clear()
    window.tick()
    return window.seconds()


class Batch:
    def __init__(self, obs, label):
        self.obs, self.label = obs, label


class EpochWindow(Window):
    """Seconds per epoch from the start of the second epoch to the end of the last."""

    def __init__(self, per_epoch):
        super().__init__()
        self.first, self.last = per_epoch + 1, per_epoch * RECIPE["epochs"] + 1

    def tick(self):
        self.step += 1
        if self.step in (self.first, self.last):
            if DEVICE == "cuda":
                torch.cuda.synchronize()
            self.stamps[self.step] = time.perf_counter()

    def seconds(self):
        return (self.stamps[self.last] - self.stamps[self.first]) / (RECIPE["epochs"] - 1)


def main():
    if DEVICE == "cpu":
        torch.set_num_threads(1)  # steadier on a shared machine; both sides of each ratio run in this process
    os.chdir(tempfile.mkdtemp())  # the benchmark's own MLflow store (./mlflow.db)
    sys.stderr = open(os.devnull, "w")  # ml()'s progress lines
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else "no GPU"
    print(
        f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__}, {name}, device {DEVICE}"
        + (f", driver {torch.version.cuda} (CUDA)" if DEVICE == "cuda" else "")
        + (", --quick" if QUICK else ""),
        flush=True,
    )
    if DEVICE == "cuda":
        torch.backends.cudnn.benchmark = True
    report(
        "1. step time, ResNet-style, batch %d, tracking on [s]" % BATCH,
        paired(lambda: ours(ResNet), lambda: hand_written(ResNet)),
        "target <= 1.05",
    )
    report(
        "2a. step time, precision=bf16 [s]",
        paired(lambda: ours(ResNet, precision="bf16"), lambda: hand_written(ResNet, precision="bf16")),
        "target <= 1.05",
    )
    report(
        "2b. step time, compile=true [s]",
        paired(lambda: ours(ResNet, compile=True), lambda: hand_written(ResNet, compile=True)),
        "target <= 1.05",
    )
    report(
        "3. step time, tracking on / off [s]",
        paired(lambda: ours(ResNet), lambda: ours(ResNet, tracking=False)),
        "target <= 1.02",
    )
    rate, peak = default_agent()
    print(
        f"4. default agent, CIFAR-shaped, batch {BATCH}: {rate:.0f} samples/s, peak GPU memory {peak:.2f} GiB",
        flush=True,
    )
    report(
        "5. airbench94-style recipe, seconds per epoch [s]", paired(recipe_through_ml, recipe_by_hand), "target <= 1.10"
    )


if __name__ == "__main__":
    main()
