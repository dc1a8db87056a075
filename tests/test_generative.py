"""antelope.train.generative: generate=true makes the dataset a generative task; its evaluation saves samples as the
run's artifacts and measures how their moments match the test split's."""

import os

import pytest
import torch
from mlflow import MlflowClient

from antelope import ConfigError, ml
from antelope.agents import GAN, AC2Agent
from antelope.data.datasets import Split
from antelope.train.generative import Evaluation

pytestmark = pytest.mark.usefixtures("one_thread")


def samples(run_id):
    return sorted(a.path for a in MlflowClient().list_artifacts(run_id, "samples"))


def test_default_agent_generates_and_saves_samples_at_each_evaluation():
    result = ml(generate=True, train_steps=100, evaluate_per_steps=50)
    assert isinstance(result.model, AC2Agent)
    assert samples(result.run_id) == ["samples/step_000000050.png", "samples/step_000000100.png"]
    assert result.model.generate(4).shape == (4, 1, 8, 8)
    assert 0 <= result.metrics["eval/moment_error"] < 1


def test_the_gan_example_runs_by_name():
    result = ml(agent="GAN", generate=True, train_steps=60, evaluate_per_steps=0)
    assert isinstance(result.model, GAN)
    assert samples(result.run_id) == ["samples/step_000000060.png"]


def test_the_evaluation_compares_moments_and_hands_its_samples_to_the_run():
    class Sampler(torch.nn.Module):
        def __init__(self, mean):
            super().__init__()
            self.mean = mean

        def generate(self, n):
            return torch.randn(n, 1, 4, 4, generator=torch.Generator().manual_seed(0)) + self.mean

    test = Split(torch.randn(512, 1, 4, 4, generator=torch.Generator().manual_seed(1)), torch.zeros(512))
    saved = []
    close = Evaluation(Sampler(0.0), test, lambda path, folder: saved.append((os.path.basename(path), folder)))
    far = Evaluation(Sampler(3.0), test, lambda path, folder: None)
    assert close(7)["eval/moment_error"] < 0.2 < far(7)["eval/moment_error"]
    assert saved == [("step_000000007.png", "samples")]
    with pytest.raises(ConfigError, match="Linear has no generate"):
        Evaluation(torch.nn.Linear(2, 2), test, None)
