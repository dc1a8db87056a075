"""antelope.train.evaluation on its own: accuracy or MSE on a test split, batch by batch, with act when there is one."""

import pytest
import torch
from torch import nn

from antelope.errors import ConfigError
from antelope.train.evaluation import evaluate


def test_evaluate_gives_accuracy_or_mse_with_act_when_the_model_has_one():
    from antelope.data.datasets import Split

    obs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    test = Split(obs, torch.tensor([0, 1, 1, 1]))

    class Identity(nn.Module):
        def forward(self, x):
            return x

    assert evaluate(Identity(), test, num_classes=2) == {"eval/accuracy": 0.75}

    class Acts(Identity):
        def act(self, x):
            return torch.ones(len(x), dtype=torch.long)  # class indices

    assert evaluate(Acts(), test, num_classes=2) == {"eval/accuracy": 0.75}
    assert evaluate(Identity(), Split(obs[:, :1], torch.zeros(4, 1)), num_classes=None) == {"eval/mse": 0.5}
    with pytest.raises(ConfigError, match=r"output has shape \(2,\) per sample; expected \(3,\)"):
        evaluate(Identity(), test, num_classes=3)
