"""The default agent (AC2Agent) on datasets, user models wrapped by it, and the supervised example agent."""
import pandas
import pytest
from sklearn.datasets import load_diabetes
from torch import nn

from antelope import ConfigError, ml
from antelope.agents import AC2Agent, Classifier

FAST = dict(train_steps=300, evaluate_per_steps=0, save_per_steps=10_000)


pytestmark = pytest.mark.usefixtures("one_thread")


class Encoder(nn.Module):
    """No learn, no output size: the default agent uses it as its encoder."""

    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU())

    def forward(self, x):
        return self.conv(x)


def test_the_default_model_is_the_default_agent():
    result = ml(**FAST)
    assert isinstance(result.model, AC2Agent)
    assert result.metrics["eval/accuracy"] > 0.9


def test_regression_beats_predicting_the_mean():
    data = load_diabetes(as_frame=True).frame  # ten features and a float target
    data.to_csv("diabetes.csv", index=False)
    result = ml(dataset="diabetes.csv", label_column="target", evaluate_per_steps=0)
    table = pandas.read_csv("diabetes.csv")
    baseline = table["target"].var()  # about the MSE of predicting the mean
    assert isinstance(result.model, AC2Agent)
    assert result.metrics["eval/mse"] < 0.8 * baseline


def test_a_model_without_learn_becomes_the_agents_encoder():
    result = ml(model=Encoder, **FAST)
    assert isinstance(result.model, AC2Agent) and isinstance(result.model.encoder[0], Encoder)
    assert result.metrics["eval/accuracy"] > 0.8


def test_the_classifier_example_runs_by_name():
    result = ml(agent="Classifier", **FAST)
    assert isinstance(result.model, Classifier)
    assert result.metrics["eval/accuracy"] > 0.9


def test_agent_names_are_checked():
    with pytest.raises(ConfigError, match="did you mean 'DQN'"):
        ml(agent="DQM")


def test_discrete_needs_an_env():
    with pytest.raises(ConfigError, match="discrete=True converts an environment's action space; it needs env="):
        ml(discrete=True)
