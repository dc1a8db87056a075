"""Log on its own: writing by attribute and by call, reducing to means, checks, sinks, pending values."""

import math

import pytest
import torch

from antelope.train.log import Log


def test_attributes_and_calls_reduce_to_float_means_and_start_over():
    log = Log()
    log.loss = torch.tensor(1.0)
    log.loss = 3
    log(loss=torch.tensor([5.0]), accuracy=0.5)  # a one-element tensor counts as a scalar
    reduced = log.reduce()
    assert reduced == {"loss": 3.0, "accuracy": 0.5}
    assert all(type(mean) is float for mean in reduced.values())
    assert log.reduce() == {}  # started over
    log.loss = 7
    assert log.reduce() == {"loss": 7.0}


def test_the_last_value_reads_back_until_the_reduce():
    log = Log()
    with pytest.raises(AttributeError, match="'loss'"):
        _ = log.loss
    log.loss = 2.0
    log.loss = torch.tensor(4.0)
    assert log.loss == 4.0
    log.reduce()
    with pytest.raises(AttributeError, match="nothing logged as 'loss'"):
        _ = log.loss


@pytest.mark.parametrize(
    "value, message",
    [
        (torch.ones(2, 3), r"log\.loss must be a scalar; got a tensor of shape \(2, 3\)"),
        ("0.5", r"log\.loss must be a number or a scalar tensor; got str"),
    ],
)
def test_a_value_that_is_not_a_scalar_is_an_error_naming_it(value, message):
    log = Log()
    with pytest.raises(ValueError, match=message):
        log.loss = value
    with pytest.raises(ValueError, match=message):
        log(loss=value)
    assert log.reduce() == {}  # nothing was kept


def test_nonfinite_gives_the_index_of_the_first_nan_or_inf_since_the_reduce():
    log = Log()
    for value in (1.0, 2.0, math.nan, 3.0, math.inf):
        log.loss = value
    log(accuracy=1.0, grad=torch.tensor(math.inf))
    reduced = log.reduce()
    assert math.isnan(reduced["loss"]) and reduced["grad"] == math.inf
    assert log.nonfinite == {"loss": 2, "grad": 0}
    log.loss = 1.0
    log.reduce()
    assert log.nonfinite == {}  # only since the last reduce


def test_write_hands_the_metrics_to_every_sink_in_order():
    first, second = [], []
    log = Log(sinks=[lambda *call: first.append(call), lambda *call: second.append(call)])
    log.write({"train/loss": 0.5}, 10)
    log.write({"eval/accuracy": 0.9}, 20, flush=True)
    expected = [({"train/loss": 0.5}, 10, False), ({"eval/accuracy": 0.9}, 20, True)]
    assert first == second == expected
    Log().write({"train/loss": 0.5}, 10)  # no sinks: written nowhere, no error


def test_pending_values_round_trip_through_a_new_log():
    log = Log()
    log.loss = 1.0
    log.loss = torch.tensor(2.0)
    log.accuracy = 1
    pending = log.pending()
    assert pending == {"loss": [1.0, 2.0], "accuracy": [1]}
    pending["loss"].append(100.0)  # a copy: the log's own values are not changed through it
    resumed = Log(pending=log.pending())
    assert resumed.pending() == {"loss": [1.0, 2.0], "accuracy": [1]}
    resumed.loss = 3.0
    assert resumed.reduce() == {"loss": 2.0, "accuracy": 1.0}
    assert resumed.pending() == {}
