"""antelope.data.stream: the Stream's batches, epochs and worker processes, resuming it, shards, unreadable samples
and dead workers, the in-memory-or-streamed choice and the streamed evaluation; then whole runs that stream
their data (slow): what they record, and a run stopped by SIGTERM resumed exactly through the console."""

import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import mlflow
import numpy as np
import psutil
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn.functional import cross_entropy
from torchvision.transforms import v2

from antelope import ConfigError, ml
from antelope.data import stream
from antelope.data.datasets import Data, Split, open_splits
from antelope.data.samples import into_memory
from antelope.data.stream import Evaluation, Stream
from antelope.errors import TrainingError
from antelope.train import evaluate
from antelope.train.interrupts import Interrupted

CPU = torch.device("cpu")
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
    ),
]
SHAPE = (3, 4, 4)


def image(i):
    """Sample i's x: uint8 (3, 4, 4) pixels i, i + 1, ... (mod 256): its first pixel tells which sample it is."""
    return ((i + torch.arange(48)) % 256).to(torch.uint8).reshape(SHAPE)


class Numbered(torch.utils.data.Dataset):
    """`n` samples made from their index when read (nothing is held): x = image(i), y = i % kinds (i itself by
    default: a batch's labels say which samples it holds). Reading sample `bad` raises; reading sample `kill`
    in a worker process kills that process (SIGKILL, as the kernel's out-of-memory killer would)."""

    def __init__(self, n=48, kinds=None, bad=None, kill=None):
        self.n, self.kinds, self.bad, self.kill = n, kinds or n, bad, kill

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.bad:
            raise OSError(f"cannot decode sample {i}")
        if i == self.kill and torch.utils.data.get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)
        return image(i), i % self.kinds


class Noise(nn.Module):
    """A random transform of its own: adds uniform noise, drawn from torch's global generator."""

    def forward(self, x):
        return x + torch.rand(x.shape)


def random_transform():
    return v2.Compose([v2.RandomHorizontalFlip(), Noise()])


def draws(stream, n):
    return [next(stream) for _ in range(n)]


def same(a, b):
    """Whether two lists of batches are the same batches, obs and labels, bit for bit."""
    return len(a) == len(b) and all(
        torch.equal(x.obs, y.obs) and torch.equal(x.label, y.label) for x, y in zip(a, b, strict=True)
    )


def children():
    return {p.pid for p in psutil.Process().children(recursive=True)}


def started_since(before):
    return [p for p in psutil.Process().children(recursive=True) if p.pid not in before]


def assert_none_left(before, timeout=30):
    """Every process started since `before` (pids) has ended: waited for with psutil, not slept on."""
    _, alive = psutil.wait_procs(started_since(before), timeout=timeout)
    assert not alive, f"processes left behind: {alive}"


# --- Stream ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_batches_are_full_cover_each_epoch_once_count_epochs_and_are_float_on_the_device(device):
    replay = Stream(Numbered(50), 16, device, seed=0, shape=SHAPE)
    assert len(replay) == 3  # 50 // 16: the last partial batch of each epoch is dropped
    orders = []
    for epoch in range(3):
        batches = draws(replay, len(replay))
        assert replay.epoch == epoch  # an epoch counts as passed when the next starts, as Replay's does
        assert all(b.obs.shape == (16, *SHAPE) and b.label.shape == (16,) for b in batches)
        assert all(b.obs.dtype == torch.float32 and b.obs.device.type == b.label.device.type == device for b in batches)
        labels = torch.cat([b.label for b in batches]).cpu()
        assert len(set(labels.tolist())) == 48  # no sample twice in an epoch, 2 left out
        orders.append(labels)
        for b in batches:  # uint8 pixels as float32 in [0, 1], each obs with its own label
            expected = torch.stack([image(i) for i in b.label.cpu().tolist()]).float() / 255
            assert torch.equal(b.obs.cpu(), expected)
    assert not torch.equal(orders[0], orders[1])  # each epoch its own permutation
    next(replay)
    assert replay.epoch == 3
    assert len(Stream(Numbered(10), 64, device, seed=0, shape=SHAPE)) == 1  # a batch larger than the data: all of it


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("transform", [None, random_transform()], ids=["plain", "random transform"])
def test_worker_processes_draw_exactly_the_batches_the_training_process_would(transform, device):
    before = children()
    alone = Stream(Numbered(50), 16, device, seed=5, shape=SHAPE, transform=transform)
    workers = Stream(Numbered(50), 16, device, seed=5, shape=SHAPE, transform=transform, workers=2)  # pinned on a GPU
    expected = draws(alone, 8)  # into the third epoch
    assert same(draws(workers, 8), expected)
    assert len(started_since(before)) == 2  # the two worker processes read them
    images = torch.stack([image(i) for i in expected[0].label.tolist()]).float() / 255
    assert torch.equal(expected[0].obs.cpu(), images) == (transform is None)  # a transform ran on each sample
    workers.close()
    assert_none_left(before)


@pytest.mark.parametrize("drawn", [4, 6], ids=["mid-epoch", "at an epoch's end"])
def test_a_resumed_stream_draws_what_an_uninterrupted_one_does(drawn):
    before = children()
    uninterrupted = Stream(Numbered(50), 16, CPU, seed=3, shape=SHAPE, transform=random_transform(), workers=2)
    draws(uninterrupted, drawn)  # 3 batches per epoch: 4 is a batch into epoch 1, 6 the end of epoch 1
    saved = io.BytesIO()
    torch.save(uninterrupted.state_dict(), saved)  # as a checkpoint holds it, loadable with weights_only
    expected = draws(uninterrupted, 5)
    resumed = Stream(Numbered(50), 16, CPU, seed=3, shape=SHAPE, transform=random_transform(), workers=2)
    resumed.load_state_dict(torch.load(io.BytesIO(saved.getvalue()), weights_only=True))
    assert same(draws(resumed, 5), expected)
    assert resumed.epoch == uninterrupted.epoch == (drawn + 5 - 1) // 3  # as Replay counts: 9 draws end epoch 2
    fresh = Stream(Numbered(50), 16, CPU, seed=3, shape=SHAPE, transform=random_transform())
    assert not same(draws(fresh, 5), expected)  # not merely the first batches again
    for each in (uninterrupted, resumed):
        each.close()
    assert_none_left(before)


def test_close_stops_the_workers_and_the_next_draw_starts_them_again_where_the_stream_stood():
    before = children()
    reference = Stream(Numbered(50), 16, CPU, seed=1, shape=SHAPE, transform=random_transform())
    replay = Stream(Numbered(50), 16, CPU, seed=1, shape=SHAPE, transform=random_transform(), workers=2)
    first = draws(replay, 2)
    assert len(started_since(before)) == 2
    replay.close()
    assert_none_left(before)
    assert same(first + draws(replay, 3), draws(reference, 5))
    replay.close()
    assert_none_left(before)


def test_two_ranks_read_disjoint_halves_each_every_world_th_sample():
    epochs = {}
    for rank in (0, 1):
        shard = Stream(Numbered(48), 8, CPU, seed=0, shape=SHAPE, rank=rank, world=2)
        assert len(shard) == 3  # 24 samples each
        epochs[rank] = [torch.cat([b.label for b in draws(shard, 3)]).tolist() for _ in range(2)]
    for rank, passes in epochs.items():
        assert all(sorted(labels) == list(range(rank, 48, 2)) for labels in passes)  # its own, once per epoch
    assert set(epochs[0][0]).isdisjoint(epochs[1][0]) and len(set(epochs[0][0]) | set(epochs[1][0])) == 48


def test_an_unreadable_sample_is_one_config_error_naming_it():
    before = children()
    replay = Stream(Numbered(48, bad=7), 16, CPU, seed=0, shape=SHAPE, workers=2)
    named = (
        r"^dataset Numbered: sample 7 of Numbered cannot be read: OSError: cannot decode sample 7 "
        r"\(bad_samples=skip leaves unreadable samples out\)$"
    )
    with pytest.raises(ConfigError, match=named):
        draws(replay, 3)  # one epoch: every one of the 48 samples
    replay.close()
    assert_none_left(before)


def test_bad_samples_skip_leaves_the_sample_out_of_its_batch_and_counts_it():
    before = children()
    replay = Stream(Numbered(48, bad=7), 16, CPU, seed=0, shape=SHAPE, workers=2, bad_samples="skip")
    batches = draws(replay, 3)
    assert sorted(len(b.label) for b in batches) == [15, 16, 16]
    assert sorted(torch.cat([b.label for b in batches]).tolist()) == [i for i in range(48) if i != 7]
    assert replay.skipped == 1
    draws(replay, 3)
    assert replay.skipped == 1  # a sample, once, whichever epochs meet it
    replay.close()
    assert_none_left(before)


def _killing_first():
    """Numbered(160) whose first sample drawn (seed 0, batches of 16) kills the worker that reads it. The
    training process waits for that batch until it sees the worker dead; and with 10 batches an epoch, more
    than the 2 workers read ahead (4 batches each), no other worker reads that sample again."""
    first = next(Stream(Numbered(160), 16, CPU, seed=0, shape=SHAPE)).label[0].item()
    return Numbered(160, kill=first)


def _stop_running(before):
    """Stops the processes started since `before` that still run (those the next test finds left behind): with
    SIGTERM from their parent a DataLoader worker exits cleanly, which torch's SIGCHLD handler lets pass."""
    for process in started_since(before):
        if process.status() != psutil.STATUS_ZOMBIE:
            process.terminate()


def test_a_killed_worker_is_one_training_error_line():
    before = children()
    replay = Stream(_killing_first(), 16, CPU, seed=0, shape=SHAPE, workers=2)
    try:
        with pytest.raises(TrainingError) as raised:
            next(replay)
        message = str(raised.value)
        assert message.startswith("a data loading worker process died: DataLoader worker (pid") and "\n" not in message
        assert "try fewer data_workers= or a smaller batch_size=" in message
    finally:
        _stop_running(before)


def test_a_killed_workers_siblings_are_stopped_by_the_time_the_error_is_raised():
    before = children()
    replay = Stream(_killing_first(), 16, CPU, seed=0, shape=SHAPE, workers=2)
    try:
        with pytest.raises(TrainingError):
            next(replay)
        running = [p for p in started_since(before) if p.status() != psutil.STATUS_ZOMBIE]  # a zombie has ended
        assert not running, f"worker processes still running: {running}"
    finally:
        _stop_running(before)


# --- choose ---------------------------------------------------------------------------------------------------


def _lazy():
    return Data(Numbered(40, kinds=3), Numbered(10, kinds=3), None)  # 50 samples of 48 + 8 bytes: 2.8 KB


def test_a_given_stream_wins_whatever_the_data():
    in_memory = Data(
        Split(torch.zeros(8, 2), torch.zeros(8, dtype=torch.long)),
        Split(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)),
        2,
    )
    for data in (in_memory, _lazy()):
        for given in (True, False):
            streaming, why = stream.choose(given, data, CPU)
            assert streaming is given and f"stream={str(given).lower()}" in why


def test_splits_already_in_memory_stay_there():
    data = Data(
        Split(torch.zeros(8, 2), torch.zeros(8, dtype=torch.long)),
        Split(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)),
        2,
    )
    streaming, why = stream.choose(None, data, CPU)
    assert streaming is False and why


def test_a_lazy_dataset_is_streamed_when_it_is_larger_than_a_quarter_of_the_free_memory(monkeypatch):
    monkeypatch.setattr(stream, "free_memory", lambda device: (8000, "host"))
    streaming, why = stream.choose(None, _lazy(), CPU)
    assert streaming is True
    assert "2.8 KB" in why and "2.0 KB" in why and "host" in why  # its size, a quarter of 8000 bytes, which memory
    monkeypatch.setattr(stream, "free_memory", lambda device: (10**6, "GPU"))
    streaming, why = stream.choose(None, _lazy(), CPU)
    assert streaming is False and "2.8 KB" in why and "250.0 KB" in why and "GPU" in why
    monkeypatch.setattr(stream, "free_memory", lambda device: (8000, "host"))
    assert stream.choose(None, _lazy(), CPU, generate=True)[0] is False  # generate=true needs the test split held


# --- Evaluation -----------------------------------------------------------------------------------------------


class ThirdPixel(nn.Module):
    """Predicts class 1 for the samples whose first pixel (the sample's index) is 1 mod 3, else class 0."""

    def forward(self, obs):
        ones = ((obs[:, 0, 0, 0] * 255).round().long() % 3 == 1).float()
        return torch.stack([1 - ones, ones], 1)


def test_a_streamed_test_split_evaluates_to_the_accuracy_of_the_same_data_in_memory():
    before = children()
    test = Numbered(60, kinds=2)
    expected = sum((i % 3 == 1) == (i % 2 == 1) for i in range(60)) / 60  # half of them, by index mod 6
    in_memory = evaluate(ThirdPixel(), into_memory(test), 2)
    evaluation = Evaluation(test, CPU, seed=0, workers=2, shape=SHAPE, batch_size=16)  # 4 batches, the last partial
    streamed = evaluate(ThirdPixel(), evaluation.batches(), 2)
    assert streamed == in_memory == {"eval/accuracy": expected}
    assert len(started_since(before)) == 2  # its workers persist, for the next evaluation
    assert evaluate(ThirdPixel(), evaluation.batches(), 2) == streamed
    assert len(started_since(before)) == 2  # the same two
    evaluation.close()
    assert_none_left(before)


# --- whole runs (slow) ----------------------------------------------------------------------------------------


class Small(nn.Module):
    """A small classifier that learns from the batches it draws (uses no randomness of its own)."""

    def __init__(self, in_features, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 16), nn.ReLU(), nn.Linear(16, out_features))

    def forward(self, x):
        return self.net(x)

    def learn(self, replay):
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)


def _dataset_inputs(run_id):
    found = mlflow.MlflowClient().get_run(run_id).inputs.dataset_inputs
    return {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d.dataset for d in found}


@pytest.mark.slow
def test_a_run_streams_its_data_and_records_how_why_and_the_splits_lengths(monkeypatch):
    before = children()
    train = open_splits(Numbered(60, kinds=3)).train  # the 48 samples not held out for testing
    bad = train.indices[0]  # a training sample: skipped by both runs, once in their single epoch
    keys = dict(
        dataset=Numbered(60, kinds=3, bad=bad),
        bad_samples="skip",
        data_workers=2,
        train_steps=6,
        batch_size=8,
        evaluate_per_steps=3,
        log_per_steps=3,
        system_metrics=False,
    )
    streamed = ml(model=Small, stream=True, **keys)
    in_memory = ml(model=Small, stream=False, **keys)
    monkeypatch.setattr(stream, "free_memory", lambda device: (4000, "host"))  # the data's 3.4 KB is more than 1 KB
    chosen = ml(model=Small, **keys)
    client = mlflow.MlflowClient()
    tags = [client.get_run(run.run_id).data.tags for run in (streamed, in_memory, chosen)]
    assert tags[0]["antelope.data"] == "streamed" and "stream=true" in tags[0]["antelope.data.why"]
    assert tags[1]["antelope.data"] == "in memory" and "stream=false" in tags[1]["antelope.data.why"]
    assert tags[2]["antelope.data"] == "streamed"
    assert "3.4 KB" in tags[2]["antelope.data.why"] and "1.0 KB" in tags[2]["antelope.data.why"]
    for run in (streamed, in_memory, chosen):
        inputs = _dataset_inputs(run.run_id)
        rows = {context: json.loads(dataset.profile)["num_rows"] for context, dataset in inputs.items()}
        if run is in_memory:
            assert rows == {"train": 47, "eval": 12}  # as held: the unreadable sample left out
        else:
            assert rows == {"train": 48, "eval": 12}  # the splits' lengths, though only a sample was read whole
        assert client.get_run(run.run_id).data.metrics["data/skipped_samples"] == 1
        assert client.get_run(run.run_id).info.status == "FINISHED" and "eval/accuracy" in run.metrics
    assert_none_left(before)


@pytest.mark.slow
def test_a_streamed_run_with_bad_samples_skip_leaves_an_unreadable_test_sample_out():
    test = open_splits(Numbered(60, kinds=3)).test  # 12 samples
    result = ml(
        model=Small,
        dataset=Numbered(60, kinds=3, bad=test.indices[0]),
        bad_samples="skip",
        stream=True,
        data_workers=0,
        train_steps=3,
        batch_size=8,
        system_metrics=False,
    )
    right = result.metrics["eval/accuracy"] * 11  # of the 11 readable test samples
    assert right == pytest.approx(round(right))


class Dropping(Small):
    """Draws from torch's global generator in every step (dropout); sends itself SIGINT at step `at` of the
    run it is told to stop."""

    at, calls = None, 0

    def __init__(self, in_features, out_features):
        nn.Module.__init__(self)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, 16), nn.Dropout(0.5), nn.Linear(16, out_features))

    def learn(self, replay):
        Dropping.calls += 1
        if Dropping.calls == Dropping.at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().learn(replay)


@pytest.mark.slow
@pytest.mark.parametrize("streamed", [False, True], ids=["in memory", "streamed"])
def test_a_model_drawing_random_numbers_resumes_exactly(streamed):
    keys = dict(
        stream=streamed,
        data_workers=2,
        train_steps=30,
        batch_size=8,
        evaluate_per_steps=10,
        log_per_steps=5,
        save_per_steps=1000,
        system_metrics=False,
        seed=2,
    )
    Dropping.at, Dropping.calls = None, 0
    reference = ml(model=Dropping, dataset=Numbered(60, kinds=3), **keys)
    Dropping.at, Dropping.calls = 13, 0  # mid-epoch: 6 batches each
    with pytest.raises(Interrupted):
        ml(model=Dropping, dataset=Numbered(60, kinds=3), **keys)
    stopped = next(
        run
        for run in mlflow.search_runs(search_all_experiments=True, output_format="list")
        if run.info.run_id != reference.run_id
    )
    Dropping.at = None
    resumed = ml(model=Dropping, dataset=Numbered(60, kinds=3), resume=stopped.info.run_id)
    assert resumed.run_id == stopped.info.run_id
    assert all(
        torch.equal(a, b)
        for a, b in zip(resumed.model.state_dict().values(), reference.model.state_dict().values(), strict=True)
    )


HOLD = "ANTELOPE_TEST_HOLD_AT"


class HeldAt(Small):
    """Small; in a process started with ANTELOPE_TEST_HOLD_AT=N it says on stderr when it is at step N, and
    waits there for a line on its stdin: the test signals the process at a step it knows."""

    calls = 0

    def learn(self, replay):
        HeldAt.calls += 1
        if os.environ.get(HOLD) == str(HeldAt.calls):
            print(f"held at step {HeldAt.calls}", file=sys.stderr, flush=True)
            sys.stdin.readline()
        return super().learn(replay)


def _image_folder(root):
    """Two classes of 30 PNG images, 10x10 RGB: bright noise and dark noise."""
    rng = np.random.default_rng(0)
    for kind, (low, high) in (("bright", (100, 256)), ("dark", (0, 156))):
        (root / kind).mkdir(parents=True)
        for i in range(30):
            Image.fromarray(rng.integers(low, high, (10, 10, 3), dtype=np.uint8)).save(root / kind / f"{i}.png")


def _ml(*args, env=None, **popen):
    command = [sys.executable, "-m", "antelope", *args]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}, **popen
    )


def _final(run_id, step):
    """The run's checkpoint at `step` and its metric histories."""
    client = mlflow.MlflowClient()
    folder = client.get_run(run_id).info.artifact_uri + "/checkpoints"
    saved = torch.load(os.path.join(folder, f"step_{step:09d}.pt"), weights_only=True)
    histories = {
        key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)]
        for key in ("train/loss", "eval/accuracy")
    }
    return saved, histories


@pytest.mark.slow
def test_a_streamed_run_stopped_by_sigterm_mid_epoch_resumes_to_what_an_uninterrupted_run_ends_with(workdir):
    _image_folder(workdir / "images")  # 60 images: 48 to train on, 6 batches of 8 per epoch
    command = [
        f"model={Path(__file__)}:HeldAt",
        "dataset=images",
        "image_size=8",
        "stream=true",
        "data_workers=2",
        "transform=[RandomHorizontalFlip,{RandomResizedCrop:{size:8,scale:[0.5,1]}}]",
        "batch_size=8",
        "train_steps=20",
        "save_per_steps=4",
        "evaluate_per_steps=5",
        "log_per_steps=5",
        "system_metrics=false",
    ]
    held = _ml(*command, env={HOLD: "10"}, stdin=subprocess.PIPE)
    hung = threading.Timer(300, held.kill)  # a process that never gets to step 10 ends the loop below, not the test run
    hung.start()
    run_id = None
    for line in held.stderr:  # until it is at step 10: past its checkpoint at step 8, mid-epoch 1
        if line.startswith("ml: run ") and line.rstrip().endswith("started"):
            run_id = line.split()[2]
        if line.startswith("held at step 10"):
            break
    else:
        raise AssertionError(f"ml exited before step 10 (status {held.wait()})")
    hung.cancel()
    folder = mlflow.MlflowClient().get_run(run_id).info.artifact_uri + "/checkpoints"
    assert sorted(os.listdir(folder)) == ["step_000000005.pt", "step_000000008.pt"]  # the evaluation's at 5, 8
    workers = psutil.Process(held.pid).children(recursive=True)
    assert len(workers) >= 2  # the data loading worker processes (training's, and evaluation's since step 5)
    held.send_signal(signal.SIGTERM)
    _, stderr = held.communicate("\n", timeout=120)  # the line lets step 10 go on; the signal ends it there
    assert held.returncode == 130, stderr
    assert "the run is marked KILLED" in stderr and "Traceback" not in stderr
    _, alive = psutil.wait_procs(workers, timeout=30)  # they end with it (or, orphaned, on their own)
    assert not alive, f"worker processes left behind: {alive}"
    accuracy = {m.step: m.value for m in mlflow.MlflowClient().get_metric_history(run_id, "eval/accuracy")}
    best = 10 if accuracy[10] >= accuracy[5] else 5  # its checkpoint is kept beside the newest two
    expected = sorted({f"step_{step:09d}.pt" for step in (8, 10, best)})
    assert sorted(os.listdir(folder)) == expected  # the signal's at 10, mid-epoch
    stopped = torch.load(os.path.join(folder, "step_000000010.pt"), weights_only=True)
    assert stopped["replay"]["epoch"] == 1 and 0 < stopped["replay"]["position"] < 48

    resume = _ml(f"resume={run_id}")
    _, stderr = resume.communicate(timeout=300)
    assert resume.returncode == 0, stderr
    assert f"ml: run {run_id} resumed at step 10" in stderr and "streamed by 2 worker processes" in stderr
    uninterrupted = _ml(*command)
    _, stderr = uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0, stderr
    reference_id = stderr.split("ml: run ")[1].split()[0]

    resumed, resumed_metrics = _final(run_id, 20)
    reference, reference_metrics = _final(reference_id, 20)
    assert resumed["model"].keys() == reference["model"].keys()
    assert all(torch.equal(resumed["model"][k], reference["model"][k]) for k in reference["model"])
    assert resumed["replay"] == reference["replay"]
    assert resumed_metrics == reference_metrics  # every logged loss and evaluation, the same numbers
    assert [step for step, _ in reference_metrics["eval/accuracy"]] == [5, 10, 15, 20]
    client = mlflow.MlflowClient()
    assert client.get_run(run_id).info.status == "FINISHED" and client.get_run(run_id).data.tags["resume_count"] == "1"
