"""Replay and ReplayBuffer on their own: batches, epochs, devices, augmentation, formats, resuming."""

import numpy as np
import pytest
import torch

from antelope.data import replay as replays
from antelope.data.replay import Replay, ReplayBuffer

CPU = torch.device("cpu")
DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]
    ),
]


def numbered(n=50):
    """n samples whose obs are (2i, 2i + 1) and label i: each batch shows which samples it holds."""
    return torch.arange(2.0 * n).reshape(n, 2), torch.arange(n)


def test_len_is_full_batches_per_epoch_and_epochs_advance():
    obs, label = numbered(50)
    replay = Replay(obs, label, 16, CPU, seed=0)
    assert len(replay) == 3  # 50 // 16: the last partial batch is dropped
    for epoch in range(3):
        batches = [next(replay) for _ in range(len(replay))]
        assert replay.epoch == epoch
        assert all(b.obs.shape == (16, 2) and b.label.shape == (16,) for b in batches)
        assert len(set(torch.cat([b.label for b in batches]).tolist())) == 48  # no sample twice in an epoch
    next(replay)
    assert replay.epoch == 3
    assert len(Replay(obs, label, 64, CPU, seed=0)) == 1  # a batch larger than the data is all of it


@pytest.mark.parametrize("device", DEVICES)
def test_batches_are_on_the_given_device(device):
    obs, label = numbered(50)
    replay = Replay(obs, label, 16, torch.device(device), seed=0)
    for _ in range(4):
        batch = next(replay)
        assert batch.obs.device.type == batch.label.device.type == device
        assert torch.equal(batch.obs[:, 0].cpu(), 2 * batch.label.cpu().float())  # each obs with its label


def test_augment_is_applied_to_obs_with_the_replays_generator():
    obs, label = numbered(50)
    generators = []

    def jitter(obs, generator):
        generators.append(generator)
        return obs + 1000 + torch.rand(obs.shape, generator=generator, device=obs.device)

    replay = Replay(obs, label, 16, CPU, seed=0, augment=jitter)
    first = [next(replay) for _ in range(4)]
    assert all(isinstance(g, torch.Generator) for g in generators) and len(set(map(id, generators))) == 1
    for batch in first:
        noise = batch.obs - 1000 - obs[batch.label]  # labels are left as they are
        assert ((noise >= 0) & (noise < 1)).all()
    # the draws come from the replay's seeded generator: the same seed draws the same, a resumed replay
    # draws what the uninterrupted one does
    again = Replay(obs, label, 16, CPU, seed=0, augment=jitter)
    assert all(torch.equal(a.obs, next(again).obs) for a in first)
    state = replay.state_dict()
    resumed = Replay(obs, label, 16, CPU, seed=1, augment=jitter)
    resumed.load_state_dict(state)
    assert all(torch.equal(next(replay).obs, next(resumed).obs) for _ in range(5))
    other = Replay(obs, label, 16, CPU, seed=1, augment=jitter)
    assert not torch.equal(next(other).obs, first[0].obs)


@pytest.mark.parametrize("augment", [None, lambda obs, generator: obs.flip(3)])
def test_channels_last_data_gives_channels_last_batches(augment):
    images, label = torch.rand(20, 3, 4, 4), torch.arange(20)
    replay = Replay(images.to(memory_format=torch.channels_last), label, 8, CPU, seed=0, augment=augment)
    assert all(next(replay).obs.is_contiguous(memory_format=torch.channels_last) for _ in range(5))
    plain = Replay(images, label, 8, CPU, seed=0, augment=augment)
    assert all(next(plain).obs.is_contiguous() for _ in range(5))


def test_replay_batches_are_the_same_copied_or_gathered_and_resume_mid_epoch(monkeypatch):
    obs, label = torch.arange(100.0).reshape(50, 2), torch.arange(50)

    def draws(replay, n):
        return [next(replay) for _ in range(n)]

    copied = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    monkeypatch.setattr(replays, "SHUFFLED_COPY_BYTES", 0)  # the path of data too large to copy
    gathered = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    first = draws(copied, 4)
    assert len(copied) == 3 and copied.epoch == 1  # 3 full batches per epoch: the 4th draw starts epoch 1
    assert all(torch.equal(b.obs[:, 0], 2 * b.label.float()) for b in first)  # each obs with its label
    assert len(set(torch.cat([b.label for b in first[:3]]).tolist())) == 48  # once each per epoch, 2 left out
    assert all(
        torch.equal(a.obs, b.obs) and torch.equal(a.label, b.label)
        for a, b in zip(first, draws(gathered, 4), strict=True)
    )
    for replay in (copied, gathered):
        state = replay.state_dict()
        expected = draws(replay, 5)  # into epoch 2
        resumed = replays.Replay(obs, label, 16, torch.device("cpu"), seed=1)
        resumed.load_state_dict(state)
        assert all(torch.equal(a.label, b.label) for a, b in zip(expected, draws(resumed, 5), strict=True))
        assert resumed.epoch == replay.epoch == 2


def test_replay_arranging_epochs_ahead_draws_what_one_epoch_at_a_time_does(monkeypatch):
    obs, label = torch.arange(100.0).reshape(50, 2), torch.arange(50)
    ahead = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    monkeypatch.setattr(replays, "ARRANGED_BATCHES", 1)
    one_by_one = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    assert len(one_by_one._batches) == 3 and len(ahead._batches) > 3 * 3  # small data: epochs arranged ahead
    for _ in range(200):  # across several arrangements
        a, b = next(ahead), next(one_by_one)
        assert torch.equal(a.label, b.label) and torch.equal(a.obs, b.obs) and ahead.epoch == one_by_one.epoch
    resumed = replays.Replay(obs, label, 16, torch.device("cpu"), seed=1)
    resumed.load_state_dict(ahead.state_dict())
    assert all(torch.equal(next(resumed).label, next(one_by_one).label) for _ in range(200))


def add(buffer, i, obs=None):
    """Transition i: obs filled with i, action i % 2."""
    obs = np.full(3, i, np.float32) if obs is None else obs
    buffer.add(obs, i % 2, 1.0, obs, 0.0, 0.99)


def test_replay_buffer_grows_by_doubling_up_to_capacity():
    buffer = ReplayBuffer(capacity=2500, batch_size=4, device="cpu", seed=0)
    allocated = []
    for i in range(2500):
        add(buffer, i)
        if len(buffer._data["obs"]) not in allocated:
            allocated.append(len(buffer._data["obs"]))
    assert allocated == [1024, 2048, 2500]
    assert len(buffer) == 2500 and buffer._data["obs"][:, 0].tolist() == list(range(2500))


def test_replay_buffer_wraps_around_dropping_the_oldest():
    buffer = ReplayBuffer(capacity=5, batch_size=64, device="cpu", seed=0)
    for i in range(8):
        add(buffer, i)
    assert len(buffer) == 5
    batch = next(buffer)
    assert set(batch.obs[:, 0].tolist()) == {3.0, 4.0, 5.0, 6.0, 7.0}  # 0, 1, 2 dropped; 64 draws see all 5 kept
    assert torch.equal(batch.action, batch.obs[:, 0].long() % 2)  # each transition's fields stay together


def test_replay_buffer_keeps_uint8_frames_and_samples_float32():
    buffer = ReplayBuffer(capacity=10, batch_size=4, device="cpu", seed=0)
    frame = np.full((2, 4, 4), 255, np.uint8)
    add(buffer, 1, frame)
    assert buffer._data["obs"].dtype == buffer._data["next_obs"].dtype == torch.uint8  # a quarter the memory
    batch = next(buffer)
    assert batch.obs.dtype == batch.next_obs.dtype == batch.reward.dtype == batch.discount.dtype == torch.float32
    assert batch.action.dtype == torch.int64 and batch.obs.shape == (4, 2, 4, 4)
    assert (batch.obs == 255.0).all()


def test_an_empty_replay_buffer_is_an_error():
    buffer = ReplayBuffer(capacity=10, batch_size=4, device="cpu", seed=0)
    with pytest.raises(RuntimeError, match="the replay buffer is empty"):
        next(buffer)


def test_replay_buffer_resumes_where_it_stood():
    replay = ReplayBuffer(capacity=50, batch_size=8, device="cpu", seed=1)
    for i in range(70):  # wraps around: the oldest 20 are dropped
        replay.add(np.full(3, i, np.float32), i % 2, 1.0, np.zeros(3, np.float32), 0.0, 0.99)
    copy = ReplayBuffer(capacity=50, batch_size=8, device="cpu", seed=2)
    copy.load_state_dict(replay.state_dict())
    assert len(copy) == 50 and torch.equal(next(copy).obs, next(replay).obs)
    assert next(replay).obs.min() >= 20
