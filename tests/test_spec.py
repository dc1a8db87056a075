"""spec on its own: statistics of the data, what the model outputs, task names, and constructors filled by name."""

import pytest
import torch

from antelope.data.spec import Spec, spec_of
from antelope.metrics import DIRECTIONS, METRICS, PARAMETERS, TRAIN_SECONDS


def test_images_have_statistics_per_channel():
    obs = torch.rand(50, 3, 4, 4) * torch.tensor([1.0, 10.0, 100.0])[:, None, None]  # channels of other scales
    spec = spec_of(obs, torch.arange(50) % 10, num_classes=10)
    assert spec.obs.shape == (3, 4, 4)
    assert torch.allclose(spec.obs.mean, obs.transpose(0, 1).flatten(1).mean(1))
    assert torch.allclose(spec.obs.stddev, obs.transpose(0, 1).flatten(1).std(1))
    assert spec.obs.mean.shape == spec.obs.stddev.shape == (3,)
    assert spec.obs.low == obs.min().item() and spec.obs.high == obs.max().item()
    assert type(spec.obs.low) is float and type(spec.obs.high) is float


def test_vectors_have_statistics_per_feature():
    obs = torch.tensor([[0.0, 10.0], [2.0, 30.0], [4.0, 20.0]])
    spec = spec_of(obs, torch.tensor([0.5, 1.5, 2.5]), num_classes=None)
    assert spec.obs.shape == (2,)
    assert torch.equal(spec.obs.mean, torch.tensor([2.0, 20.0])) and torch.equal(
        spec.obs.stddev, torch.tensor([2.0, 10.0])
    )
    assert (spec.obs.low, spec.obs.high) == (0.0, 30.0)


def test_classification_outputs_one_logit_per_class():
    spec = spec_of(torch.rand(20, 5), torch.arange(20) % 4, num_classes=4)
    assert (spec.action.shape, spec.action.discrete, spec.action.low, spec.action.high) == ((4,), True, 0.0, 3.0)
    assert spec.classification and spec.task_name == "classification"


@pytest.mark.parametrize(
    "label, shape",
    [(torch.tensor([-1.0, 0.0, 3.0]), (1,)), (torch.tensor([[-1.0, 0.0], [2.0, 3.0], [0.0, 0.0]]), (2,))],
)
def test_regression_outputs_the_targets_shape_and_range(label, shape):
    spec = spec_of(torch.rand(3, 5), label, num_classes=None)
    assert (spec.action.shape, spec.action.discrete, spec.action.low, spec.action.high) == (shape, False, -1.0, 3.0)
    assert not spec.classification and spec.task_name == "regression"


def test_every_task_names_a_main_metric_with_a_direction():
    regression = spec_of(torch.rand(3, 5), torch.rand(3), num_classes=None)
    names = [Spec(regression.obs, regression.action, None, task).task_name for task in ("rl", "generate")]
    assert names == ["rl", "generate"]
    assert set(METRICS) == {"classification", "regression", "rl", "generate"}
    assert set(METRICS.values()) | {PARAMETERS, TRAIN_SECONDS} <= set(DIRECTIONS)  # and the costs every run records
    judged = {"eval/moment_error", "eval/classes_covered", "eval/largest_class_share", "eval/confidence"}
    assert set(DIRECTIONS) - set(METRICS.values()) - {PARAMETERS, TRAIN_SECONDS} == judged  # a sweep may pick those
    assert DIRECTIONS[PARAMETERS] == DIRECTIONS[TRAIN_SECONDS] == "minimize"
    assert set(DIRECTIONS.values()) == {"maximize", "minimize"}
    assert DIRECTIONS[METRICS["classification"]] == "maximize" and DIRECTIONS[METRICS["regression"]] == "minimize"
