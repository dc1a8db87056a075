"""antelope.train.threads: one thread for a small model's step, torch's setting otherwise, never more than it."""

import pytest
import torch
from torch import nn

from antelope.train import threads


def mlp(width):
    return nn.Sequential(nn.Linear(4, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 2))


def test_forward_flops_counts_the_matrix_products_per_sample():
    flops = threads.forward_flops(mlp(256), torch.zeros(5, 4))
    assert flops == 2 * (4 * 256 + 256 * 256 + 256 * 2)  # multiply-adds, per sample of the 5


def test_a_small_models_step_gets_one_thread_a_large_ones_keeps_torchs_setting(two_threads):
    cpu = torch.device("cpu")
    assert threads.choose(mlp(256), torch.zeros(1, 4), 64, cpu) == 1  # the default agent on CartPole
    assert threads.choose(mlp(1024), torch.zeros(1, 4), 256, cpu) == 2  # ~1.6 GFLOP a step
    assert threads.choose(mlp(256), torch.zeros(1, 4), 64, torch.device("cuda")) == 2  # the CPU feeds a GPU
    torch.set_num_threads(1)
    assert threads.choose(mlp(1024), torch.zeros(1, 4), 256, cpu) == 1  # never more than the process has


def test_a_forward_that_does_not_take_the_data_leaves_the_setting(two_threads):
    class TakesNoise(nn.Module):
        def forward(self, noise):
            raise TypeError("expects (n, 64) noise")

    assert threads.choose(TakesNoise(), torch.zeros(1, 4), 64, torch.device("cpu")) == 2


def test_counting_leaves_the_random_streams_and_the_mode_as_they_were():
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5))
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    threads.forward_flops(model, torch.ones(2, 4))
    assert torch.equal(torch.rand(3), expected) and model.training


def test_using_sets_the_count_inside_and_restores_it_after(two_threads):
    with threads.using(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    with pytest.raises(RuntimeError), threads.using(1):
        raise RuntimeError("training failed")
    assert torch.get_num_threads() == 2


def test_a_run_records_the_count_it_chose_and_leaves_the_callers_setting(two_threads):
    from antelope import ml

    seen = []

    class Probe(nn.Module):
        """A model that notes the thread count it learns under."""

        def __init__(self, in_features, out_features, width=8):
            super().__init__()
            self.net = nn.Sequential(
                nn.Flatten(), nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, out_features)
            )

        def forward(self, x):
            return self.net(x)

        def learn(self, replay):
            seen.append(torch.get_num_threads())
            batch = next(replay)
            return nn.functional.cross_entropy(self(batch.obs), batch.label)

    small = ml(model=Probe, train_steps=3, evaluate_per_steps=0)
    assert small.config["threads"] == 1 and seen == [1, 1, 1] and torch.get_num_threads() == 2
    seen.clear()
    large = ml(model=Probe, train_steps=3, evaluate_per_steps=0, **{"model.width": 4096})
    assert large.config["threads"] == 2 and seen == [2, 2, 2]
    seen.clear()
    given = ml(model=Probe, train_steps=3, evaluate_per_steps=0, threads=2)
    assert given.config["threads"] == 2 and seen == [2, 2, 2]
    rl = ml(env="CartPole-v1", train_steps=20, evaluate_episodes=1)  # the default agent: small work
    assert rl.config["threads"] == 1 and torch.get_num_threads() == 2
