"""Evaluation of a supervised model on its test split: accuracy (classification) or mean squared error
(regression), batch by batch, summed on the device."""

import torch

from ..data import Split, as_float
from ..errors import ConfigError


@torch.no_grad()
def evaluate(model, test, num_classes, max_batch=1024):
    """Accuracy (classification) or MSE (regression) on the test split, with `model.act` if it has
    one, else `model(obs)`. `test`: a Split in memory, or an iterable of (obs, label) batches (a stream's);
    either way it is evaluated batch by batch, summed on the device."""
    predict = model.act if hasattr(model, "act") else model
    batches = test
    if isinstance(test, Split):
        batches = (
            (as_float(test.obs[i : i + max_batch]), test.label[i : i + max_batch])
            for i in range(0, len(test), max_batch)
        )
    model.eval()
    total, count = 0, 0
    try:
        for obs, label in batches:
            outputs = predict(obs)
            if num_classes is not None:
                total = total + (_predicted(outputs, label, num_classes, model) == label).sum()
            else:
                if outputs.numel() != label.numel():
                    raise ConfigError(
                        f"{type(model).__name__} output has shape {tuple(outputs.shape[1:])} per sample; "
                        f"the regression target has {tuple(label.shape[1:]) or (1,)}"
                    )
                total = total + ((outputs.reshape(label.shape).float() - label) ** 2).sum()
            count += label.numel() if num_classes is None else len(label)
    finally:
        model.train()
    value = float(total) / max(count, 1)
    return {"eval/accuracy": value} if num_classes is not None else {"eval/mse": value}


def _predicted(outputs, label, num_classes, model):
    """The predicted class of each sample: act() may return class indices, forward one logit per class."""
    if outputs.shape == label.shape and not outputs.dtype.is_floating_point:
        return outputs  # act() returned class indices
    if outputs.dim() == 2 and outputs.shape[1] == num_classes:
        return outputs.argmax(1)
    raise ConfigError(
        f"{type(model).__name__} output has shape {tuple(outputs.shape[1:])} per sample; "
        f"expected ({num_classes},): one logit per class"
    )
