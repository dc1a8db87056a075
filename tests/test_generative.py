"""antelope.train.generative and antelope.train.judge: generate=true makes the dataset a generative task; its
evaluation saves samples as the run's artifacts and judges them against the test split: moments, and a classifier's
view (classes covered, the largest class's share, confidence, Fréchet distance), which sees collapse."""

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
    judged = {"eval/frechet_distance", "eval/frechet_distance_real_data", "eval/classes_covered", "eval/confidence"}
    assert judged | {"eval/largest_class_share"} <= set(result.metrics)
    history = MlflowClient().get_metric_history(result.run_id, "eval/frechet_distance")
    assert [m.step for m in history] == [50, 100]  # at each evaluation, as the curves `ml plot` draws


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
    train = Split(torch.randn(512, 1, 4, 4, generator=torch.Generator().manual_seed(2)), torch.zeros(512))
    saved = []

    def keep(path, folder):
        from PIL import Image

        saved.append((os.path.basename(path), folder, Image.open(path).size))

    close = Evaluation(Sampler(0.0), train, test, None, keep)
    far = Evaluation(Sampler(3.0), train, test, None, lambda path, folder: None)
    near, away = close(7), far(7)
    assert near["eval/moment_error"] < 0.2 < away["eval/moment_error"]
    # no classes: the distances over a fixed random projection, and no class metrics
    assert near["eval/frechet_distance"] * 10 < away["eval/frechet_distance"]
    assert "eval/classes_covered" not in near
    assert saved == [("step_000000007.png", "samples", (8 * 32 + 9 * 4,) * 2)]  # 8x8 samples of 4x4, 32 px each
    with pytest.raises(ConfigError, match="Linear has no generate"):
        Evaluation(torch.nn.Linear(2, 2), train, test, None, None)


def test_the_judge_tells_real_digits_from_a_collapsed_generator():
    """Real held-out digits cover every class, confidently, at the distance real data scores; one digit repeated
    covers one class far away; the mean image (what a per-pixel moment check cannot tell from the data) as well."""
    from antelope.data.datasets import _digits_tensors, _holdout
    from antelope.train import judge

    data = _holdout(_digits_tensors(), 10)
    digits = judge.judge_of(data.train.obs, data.train.label, 10)
    assert digits is judge.judge_of(data.train.obs, data.train.label, 10)  # trained once per dataset
    n = len(data.test.obs)
    real = judge.judgement(digits, data.train.obs[-n:], data.test.obs, data.train.obs[:n])
    assert real["eval/classes_covered"] == 10 and real["eval/largest_class_share"] < 0.15
    assert real["eval/confidence"] > 0.9
    assert real["eval/frechet_distance"] < 2 * real["eval/frechet_distance_real_data"]
    for collapsed in (data.test.obs[:1], data.train.obs.float().mean(0, keepdim=True)):
        judged = judge.judgement(digits, collapsed.repeat(n, 1, 1, 1), data.test.obs, data.train.obs[:n])
        assert judged["eval/classes_covered"] == 1 and judged["eval/largest_class_share"] == 1
        assert judged["eval/frechet_distance"] > 20 * real["eval/frechet_distance"]


@pytest.mark.slow  # the README's commands at their own budget, 1,000 steps
@pytest.mark.parametrize("agent", ["GAN", None])  # the example, and the default agent (with GENERATIVE_ADAM)
def test_the_readmes_generative_commands_cover_the_digits_as_written(agent):
    result = ml(generate=True, dataset="Digits", **({"agent": agent} if agent else {}))
    judged = result.metrics
    assert judged["eval/classes_covered"] >= 9 and judged["eval/largest_class_share"] <= 0.25
    assert judged["eval/confidence"] >= 0.8
    # Not collapsed: a collapsed generator scores 100-400 (the README), 30-100x the real data's 3.2. A working one
    # scores 5-15 (README: 5.3-12.3 over seeds 0-2); GAN training is chaotic, so another CPU's kernels move a seed
    # within that range (seed 0 of the default agent: 6.2 on one 2-core VM, 15.3 on another).
    assert judged["eval/frechet_distance"] <= 10 * judged["eval/frechet_distance_real_data"]
