"""overrides: parsing `key=value` lines and writing Python values (`ml(k=v)`) in Hydra's override grammar."""

import re

import pytest
import torch
from models import Model

from antelope import ConfigError
from antelope.config.overrides import format_value, from_python, key, parse, value_text


class Lion(torch.optim.SGD):
    """An optimizer outside torch.optim, named by its dotted path."""


def test_parse_reads_a_line_with_hydras_grammar():
    override = parse("optim.lr=0.1")
    assert override.key_or_group == "optim.lr" and override.value() == 0.1
    assert parse("augment=[flip,shift]").value() == ["flip", "shift"]
    assert parse("optim.lr=tag(log, interval(1e-5, 1e-1))").is_sweep_override()


@pytest.mark.parametrize(
    "line, message",
    [
        ("lr==3", "cannot parse override 'lr==3': extraneous input '='"),
        ("optim.lr=tag(log", "cannot parse override 'optim.lr=tag(log': no viable alternative"),
    ],
)
def test_an_unparsable_line_is_a_config_error_of_one_line(line, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as error:
        parse(line)
    assert str(error.value).endswith("; write key=value") and "\n" not in str(error.value)


def test_key_is_the_dotted_key_without_hydras_prefix():
    assert key("optim.lr=0.1") == "optim.lr"
    assert key("++model.depth=2") == "model.depth"
    assert key("~model.depth") == "model.depth"


def test_keyword_values_become_override_strings():
    overrides, objects = from_python(
        ["optim=SGD"],
        dict(
            lr=0.01,
            train_steps=5,
            compile=True,
            grad_clip=None,
            augment=["flip", "shift"],
            betas=(0.9, 0.99),
            experiment="1e3",
        ),
    )
    assert overrides == [
        "optim=SGD",
        "lr=0.01",
        "train_steps=5",
        "compile=true",
        "grad_clip=null",
        "augment=['flip','shift']",
        "betas=[0.9,0.99]",
        "experiment='1e3'",
    ]
    assert objects == {}
    assert [parse(line).value() for line in overrides[1:]] == [
        0.01,
        5,
        True,
        None,
        ["flip", "shift"],
        [0.9, 0.99],
        "1e3",
    ]


def test_a_model_or_dataset_object_travels_beside_the_config_under_its_qualified_name():
    model, dataset = Model(4, 2), torch.utils.data.TensorDataset(torch.zeros(3, 4))
    overrides, objects = from_python([], dict(model=model, dataset=dataset))
    assert overrides == ["model._target_='models.Model'", "dataset='torch.utils.data.dataset.TensorDataset'"]
    assert objects["model"] is model and objects["dataset"] is dataset


def test_agent_is_the_model_and_a_name_is_not_an_object():
    assert from_python([], dict(agent=Model)) == (["model._target_='models.Model'"], {"model": Model})
    assert from_python([], dict(model="MLP", dataset="Digits")) == (["model='MLP'", "dataset='Digits'"], {})


def test_model_and_agent_together_are_an_error():
    with pytest.raises(ConfigError, match="the model is given twice: model= and agent= are the same key"):
        from_python([], dict(model=Model, agent=Model))


def test_optim_and_scheduler_become_group_overrides():
    overrides, objects = from_python(
        [], dict(optim={"_target_": torch.optim.AdamW, "lr": 1e-2}, scheduler=torch.optim.lr_scheduler.StepLR)
    )
    assert overrides == ["optim=AdamW", "optim.lr=0.01", "scheduler=StepLR"] and objects == {}
    assert from_python([], dict(optim="torch.optim.SGD", scheduler="torch.optim.lr_scheduler.StepLR"))[0] == [
        "optim=SGD",
        "scheduler=StepLR",
    ]
    assert from_python([], dict(optim=Lion))[0] == ["optim=test_overrides.Lion"]  # not torch's: its dotted path


def test_an_optim_dict_without_a_target_is_an_error():
    with pytest.raises(ConfigError, match=re.escape("optim={'lr': 0.1} needs a '_target_' (a class or its name)")):
        from_python([], dict(optim={"lr": 0.1}))


@pytest.mark.parametrize(
    "value, text",
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (3, "3"),
        (1e-5, "1e-05"),
        ("SGD", "'SGD'"),
        ("it's", r"'it\'s'"),
        ("ends\\", r"'ends\\'"),
        ((1, 2), "[1,2]"),
        ({"a": [1, "x"]}, "{a:[1,'x']}"),
    ],
)
def test_format_value_writes_hydras_grammar(value, text):
    assert format_value(value) == text
    expected = list(value) if isinstance(value, tuple) else value
    assert parse(f"k={text}").value() == expected  # read back as the same value


@pytest.mark.parametrize(
    "value, text",
    [
        ("SGD", "SGD"),
        ("a b", "a b"),
        ("1e3", "'1e3'"),
        ("0.01", "'0.01'"),
        ("true", "'true'"),
        ("null", "'null'"),
        ("1,2", "'1,2'"),
        (0.01, "0.01"),
        (3, "3"),
        (None, "null"),
    ],
)
def test_value_text_is_bare_only_when_it_reads_back_as_the_same_string(value, text):
    assert value_text(value) == text
    assert parse(f"k={text}").value() == value


def test_a_backslash_inside_a_string_reads_back_as_one():
    path = "C:\\data"  # a Windows path
    assert parse("k=" + format_value(path)).value() == path


def test_flatten_names_a_nested_config_by_its_dotted_keys():
    from antelope.config.overrides import flatten

    assert flatten({"optim": {"lr": 0.1, "betas": [0.9, 0.99]}, "empty": {}, "seed": 0}) == {
        "optim.lr": 0.1,
        "optim.betas": [0.9, 0.99],
        "empty": {},
        "seed": 0,
    }


def test_readable_lines_are_what_a_person_types_and_compose_the_same_config():
    from antelope import config
    from antelope.config.overrides import readable

    written = [
        "model._target_='tests.models.Model'",
        "dataset='Digits'",
        "optim.lr=0.01",
        "++model.depth=3",
        "experiment='1e3'",
        "augment=[flip,shift]",
    ]
    assert [readable(line) for line in written] == [
        "model=tests.models.Model",
        "dataset=Digits",
        "optim.lr=0.01",
        "model.depth=3",
        "experiment='1e3'",
        "augment=[flip,shift]",
    ]
    assert config.compose([readable(line) for line in written]) == config.compose(written)
