"""Space: a sweep's search space from override lines (Hydra sweep expressions as Optuna distributions), the
values a trial draws, the run's command line, and the grid."""

import re

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FixedTrial

from antelope import ConfigError
from antelope.config.overrides import parse
from antelope.sweeps.space import Space, grid


def test_keys_of_an_optimizer_are_drawn_only_when_the_drawn_optimizer_takes_them():
    space = Space.parse(["optim=choice(SGD, Adam)", "optim.momentum=interval(0.5, 0.9)", "optim.lr=0.01"])
    assert space.fixed == ["optim.lr=0.01"]
    assert space.suggest(FixedTrial({"optim": "SGD", "optim.momentum": 0.7})) == {"optim": "SGD", "optim.momentum": 0.7}
    assert space.suggest(FixedTrial({"optim": "Adam", "optim.momentum": 0.7})) == {"optim": "Adam"}


def test_parse_splits_dimensions_from_fixed_overrides_in_the_order_given():
    space = Space.parse(
        [
            "seed=1",
            "optim.lr=tag(log, interval(1e-5, 1e-1))",
            "train_steps=3",
            "++model.depth=range(1, 5)",
            "batch_size=64,128",
            "seed=2",
        ]
    )
    assert space.fixed == ["train_steps=3", "seed=2"]  # seed given twice: the later line counts
    assert list(space.dimensions) == ["optim.lr", "model.depth", "batch_size"]
    depth = space.dimensions["model.depth"]
    assert (depth.prefix, depth.expression, depth.group) == ("++model.depth", "range(1, 5)", None)
    assert space.dimensions["optim.lr"].group == "optim"


def test_a_key_given_twice_keeps_the_later_line():
    space = Space.parse(["batch_size=32", "optim.lr=interval(0.1, 1)", "batch_size=choice(8, 16)"])
    assert space.fixed == [] and space.dimensions["batch_size"].distribution == CategoricalDistribution([8, 16])
    with pytest.raises(ConfigError, match="the search space is empty"):
        Space.parse(["optim.lr=interval(0.1, 1)", "optim.lr=0.5"])


@pytest.mark.parametrize(
    "expression, distribution",
    [
        ("choice(SGD, Adam)", CategoricalDistribution(["SGD", "Adam"])),
        ("64,128", CategoricalDistribution([64, 128])),
        ("choice(a, 1, true, '1e3')", CategoricalDistribution(["a", 1, True, "1e3"])),
        ("interval(0.5, 2)", FloatDistribution(0.5, 2.0)),
        ("interval(1, 5)", FloatDistribution(1.0, 5.0)),  # Hydra reads interval bounds as floats
        ("tag(log, interval(1e-5, 1e-1))", FloatDistribution(1e-5, 0.1, log=True)),
        ("int(interval(10, 1000))", IntDistribution(10, 1000)),
        ("tag(log, int(interval(1, 100)))", IntDistribution(1, 100, log=True)),
        ("range(1, 5)", IntDistribution(1, 4)),  # stop excluded, as in Python
        ("range(2, 11, 3)", IntDistribution(2, 8, step=3)),
        ("range(0.1, 0.5, 0.1)", FloatDistribution(0.1, 0.4, step=0.1)),
    ],
)
def test_each_expression_is_its_optuna_distribution(expression, distribution):
    space = Space.parse([f"x={expression}"])
    assert space.dimensions["x"].distribution == distribution


@pytest.mark.parametrize(
    "lines, message",
    [
        (["seed=1"], "the search space is empty: give at least one sweep expression"),
        (["x=interval(1, 1)"], "'x=interval(1, 1)': an interval needs low < high"),
        (["x=tag(log, interval(0, 1))"], "an interval needs low < high and low > 0 on a log scale"),
        (["x=range(5, 1)"], "'x=range(5, 1)': the range is empty"),
        (["x=tag(log, range(1, 5))"], "a range has a step, so it cannot be on a log scale; use interval"),
        (["x=choice([1, 2], [3])"], "choices must be plain values (numbers, strings, true/false, null)"),
        (
            ["optim=choice(SGD, Adam)", "optim.rho=interval(0.1, 0.9)"],
            "optim.rho applies to none of the optim options in this sweep (Adam, SGD)",
        ),
        (
            ["optim.momentum=interval(0.1, 0.9)"],
            "optim.momentum applies to none of the optim options in this sweep (Adam)",
        ),
        (["scheduler.eta_min=interval(0, 0.1)"], "scheduler.eta_min applies to none of the scheduler options"),
        (["optim=choice(SGD, Adamm)"], "unknown optimizer optim='Adamm' (did you mean 'Adam'?)"),
    ],
)
def test_a_bad_space_is_a_config_error(lines, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        Space.parse(lines)


def test_a_scheduler_key_applies_when_lr_decay_epochs_picks_the_scheduler():
    space = Space.parse(["lr_decay_epochs=choice(5, 10)", "scheduler.eta_min=interval(0.0, 0.1)"])
    trial = FixedTrial({"lr_decay_epochs": 5, "scheduler.eta_min": 0.01})
    assert space.suggest(trial) == {"lr_decay_epochs": 5, "scheduler.eta_min": 0.01}


def test_suggest_draws_every_kind_in_the_order_given():
    space = Space.parse(
        [
            "n=int(interval(1, 9))",
            "optim=SGD",
            "optim.momentum=interval(0.1, 0.9)",
            "x=tag(log, interval(1e-3, 1))",
            "d=range(2, 10, 2)",
            "c=choice(a, b)",
        ]
    )
    values = space.suggest(FixedTrial({"n": 3, "optim.momentum": 0.3, "x": 0.01, "d": 4, "c": "b"}))
    assert values == {"n": 3, "optim.momentum": 0.3, "x": 0.01, "d": 4, "c": "b"}
    assert list(values) == ["n", "optim.momentum", "x", "d", "c"]


def test_overrides_write_a_command_line_that_reads_back_as_the_drawn_values():
    space = Space.parse(
        ["seed=1", "++model.depth=range(1, 4)", "x=choice(SGD, '1e3', 'true', 'a b')", "y=interval(0, 1)"]
    )
    drawn = {"model.depth": 2, "x": "1e3", "y": 0.5}
    line = space.overrides(drawn)
    assert line == ["seed=1", "++model.depth=2", "x='1e3'", "y=0.5"]
    assert [parse(text).value() for text in line[1:]] == [2, "1e3", 0.5]
    assert space.overrides({"x": "SGD"}) == ["seed=1", "x=SGD"]
    for value in ("true", "a b", "1,2", "null"):
        assert parse(space.overrides({"x": value})[1]).value() == value


def test_probe_sets_every_dimension_that_applies_to_one_of_its_values():
    space = Space.parse(
        [
            "seed=1",
            "optim=choice(SGD, Adam)",
            "optim.momentum=interval(0.1, 0.9)",
            "lr_decay_epochs=int(interval(10, 100))",
            "++model.depth=range(2, 5)",
        ]
    )
    assert space.probe() == ["seed=1", "optim=SGD", "lr_decay_epochs=10", "++model.depth=2", "optim.momentum=0.1"]
    space = Space.parse(["optim=choice(Adam, SGD)", "optim.momentum=interval(0.1, 0.9)"])
    assert space.probe() == ["optim=Adam"]  # Adam takes no momentum


def test_describe_is_the_space_as_written():
    space = Space.parse(["seed=1", "optim.lr=tag(log, interval(1e-5, 1e-1))", "batch_size=64,128"])
    assert space.describe() == {"optim.lr": "tag(log, interval(1e-5, 1e-1))", "batch_size": "64,128"}


def test_grid_lists_the_values_of_choice_and_range_dimensions():
    space = Space.parse(
        ["optim=choice(SGD, Adam)", "model.depth=range(1, 5)", "y=range(0.1, 0.5, 0.1)", "n=range(0, 10, 5)"]
    )
    assert grid(space) == {
        "optim": ["SGD", "Adam"],
        "model.depth": [1, 2, 3, 4],
        "y": [0.1, 0.2, 0.3, 0.4],
        "n": [0, 5],
    }


@pytest.mark.parametrize("expression", ["interval(0.1, 1)", "tag(log, int(interval(1, 9)))"])
def test_grid_of_a_continuous_dimension_is_a_config_error(expression):
    with pytest.raises(
        ConfigError,
        match=re.escape(f"sweep.sampler=grid needs choice or range dimensions; optim.lr={expression} is continuous"),
    ):
        grid(Space.parse(["optim=SGD", f"optim.lr={expression}"]))


def test_a_glob_is_not_searchable_and_a_falling_range_holds_its_values():
    with pytest.raises(ConfigError, match="not a sweep expression Antelope can search"):
        Space.parse(["x=glob(*)"])
    falling = Space.parse(["x=range(5, 1, -1)"]).dimensions["x"].distribution
    assert (falling.low, falling.high, falling.step) == (2, 5, 1)
