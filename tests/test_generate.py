"""generate=true: the dataset becomes a generative task; samples are saved as MLflow artifacts."""
import pytest
from mlflow import MlflowClient

from antelope import ml
from antelope.agents import GAN, AC2Agent


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
