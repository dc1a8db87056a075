"""model on its own: what `model=` names, building it from the data, and models that keep their own optimizers."""

import pytest
import torch
from models import Deep, Model, NoLearn, NotAModule, SelfOptimizing
from torch import nn

from antelope import ConfigError
from antelope.agents import MLP, AC2Agent
from antelope.data.spec import spec_of
from antelope.train.model import build, construct, optimizes_itself, own_optimizers, resolve

DIGITS = spec_of(torch.rand(30, 1, 8, 8), torch.arange(30) % 10, num_classes=10)


def test_resolve_a_bundled_name_a_dotted_path_a_class_and_an_instance():
    assert resolve("MLP") is MLP
    assert resolve("antelope.agents.MLP") is MLP
    assert resolve(Model) is Model
    instance = Model(4, 2)
    assert resolve(instance) is instance


@pytest.mark.parametrize(
    "target, message",
    [
        (
            "MPL",
            "unknown model 'MPL' (did you mean 'MLP'?): give one of AC2Agent, MLP, DQN, DDPG, GAN, Classifier, "
            "a dotted path or path/to/file.py:ClassName",
        ),
        ("os.sep", "model 'str' is not a torch.nn.Module class, instance, or a function that returns one"),
        (NotAModule, "model 'NotAModule' is not a torch.nn.Module class, instance, or a function that returns one"),
        (NotAModule(), "model 'NotAModule' is not a torch.nn.Module class, instance, or a function that returns one"),
    ],
)
def test_resolve_refuses_what_is_not_a_model(target, message):
    with pytest.raises(ConfigError) as error:
        resolve(target)
    assert str(error.value) == message


def test_build_constructs_from_the_spec_and_the_users_arguments():
    model, filled = build(MLP, DIGITS, {"hidden": 12})
    assert isinstance(model, MLP) and model.net[1].in_features == 64 and model.net[1].out_features == 12
    assert model(torch.rand(5, 1, 8, 8)).shape == (5, 10) and filled == {}  # spec: not a plain value to record
    model, filled = build(Model, DIGITS, {})
    assert type(model) is Model and filled == {"in_features": 64, "out_features": 10}  # it has learn: not wrapped


def test_build_takes_an_instance_as_it_is_and_refuses_constructor_arguments_for_it():
    instance = Model(64, 10)
    assert build(instance, DIGITS, {}) == (instance, {})
    with pytest.raises(
        ConfigError,
        match="model.hidden: the model was given as an instance, so it takes no "
        "constructor arguments; pass the class instead",
    ):
        build(instance, DIGITS, {"hidden": 12})


class Encoder(nn.Module):
    """No learn, no output size: features for the default agent's head."""

    def __init__(self, in_channels):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 4, 3)

    def forward(self, obs):
        return self.conv(obs)


def test_a_model_without_learn_is_wrapped_by_the_default_agent():
    head, _ = build(NoLearn, DIGITS, {})  # asks for out_features: it is the agent's output head
    assert isinstance(head, AC2Agent) and isinstance(head.actor, NoLearn)
    encoder, _ = build(Encoder, DIGITS, {})  # else it encodes, and the agent adds the head
    assert isinstance(encoder, AC2Agent) and isinstance(encoder.encoder[0], Encoder)
    obs = torch.rand(5, 1, 8, 8)
    assert head(obs).shape == encoder(obs).shape == (5, 10)
    assert callable(head.learn)


class KeepsASchedule(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.optim = torch.optim.SGD(self.linear.parameters(), lr=0.1)
        self.schedule = torch.optim.lr_scheduler.StepLR(self.optim, step_size=10)
        self.lr = 0.1


def test_optimizers_and_schedulers_kept_as_attributes_are_found():
    model = KeepsASchedule()
    assert own_optimizers(model) == {"optim": model.optim, "schedule": model.schedule}
    assert optimizes_itself(model) and optimizes_itself(SelfOptimizing(4, 2))
    assert own_optimizers(Model(4, 2)) == {} and not optimizes_itself(Model(4, 2))
    assert not optimizes_itself(MLP(DIGITS))


IMAGES = spec_of(torch.rand(30, 3, 32, 32), torch.arange(30) % 10, num_classes=10)


def test_a_torchvision_model_function_is_built_with_its_documented_num_classes_as_the_agents_head():
    import torchvision

    model, filled = build(torchvision.models.resnet18, IMAGES, {})
    assert filled == {"num_classes": 10} and isinstance(model, AC2Agent)
    assert isinstance(model.actor, torchvision.models.ResNet) and model.actor.fc.out_features == 10
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)
    small, filled = build(torchvision.models.mobilenet_v3_small, IMAGES, {"dropout": 0.1})
    assert filled == {"num_classes": 10} and small.actor.classifier[-1].out_features == 10


def test_pretrained_torchvision_weights_leave_its_classes_and_the_model_becomes_the_agents_encoder(monkeypatch):
    import torchvision

    def resnet18(weights=None, **kwargs):  # the builder, as it runs with weights at hand (no download here)
        assert weights == "DEFAULT" and "num_classes" not in kwargs  # torchvision refuses both together
        return torchvision.models.resnet18(**kwargs)

    resnet18.__module__ = "torchvision.models.resnet"
    model, filled = build(resnet18, IMAGES, {"weights": "DEFAULT"})
    assert filled == {} and isinstance(model.encoder[0], torchvision.models.ResNet)  # its 1000 outputs: features
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_timm_create_model_is_built_with_its_documented_num_classes_and_in_chans():
    timm = pytest.importorskip("timm", reason="timm is in the test extra (pip install -e '.[test]')")
    gray = spec_of(torch.rand(30, 1, 16, 16), torch.arange(30) % 4, num_classes=4)
    for name in ("resnet18", "mobilenetv3_small_050"):
        model, filled = build(timm.create_model, gray, {"model_name": name})
        assert filled == {"num_classes": 4, "in_chans": 1}
        assert model(torch.rand(2, 1, 16, 16)).shape == (2, 4)
    with pytest.raises(ConfigError, match="create_model needs argument 'model_name', which antelope cannot fill"):
        build(timm.create_model, gray, {})


def test_a_function_that_returns_something_else_than_a_module_is_one_line():
    def ones(in_features):
        return torch.ones(in_features)

    with pytest.raises(
        ConfigError,
        match="^model 'test_a_function.*<locals>.ones' returned a Tensor, not a "
        "torch.nn.Module: give a Module class, or a function that returns a module$",
    ):
        build(ones, DIGITS, {})


class Takes(torch.nn.Module):
    """Records the arguments its constructor got."""

    def __init__(self, in_features, out_features, in_channels, num_classes, spec, action_spec, in_shape):
        super().__init__()
        self.arguments = {
            name: value for name, value in locals().items() if name not in ("self", "__class__")
        }  # super() adds __class__


def test_construct_fills_arguments_by_name_from_the_spec():
    model, filled = construct(Takes, DIGITS, {})
    arguments = model.arguments
    assert arguments == dict(
        in_features=64,
        out_features=10,
        in_channels=1,
        num_classes=10,
        spec=DIGITS,
        action_spec=DIGITS.action,
        in_shape=(1, 8, 8),
    )


def test_construct_takes_the_users_arguments_over_filled_ones_and_keeps_defaults():
    model, filled = construct(Deep, DIGITS, {"depth": 3, "num_classes": 7})
    assert (model.depth, model.width) == (3, 16)
    assert model.MLP[1].in_features == 64 and model.MLP[-1].out_features == 7


def test_an_argument_nobody_can_fill_is_an_error_naming_it():
    with pytest.raises(
        ConfigError,
        match=r"Deep.__init__ needs argument 'depth', which antelope cannot fill: "
        r"pass it as model.depth=\.\.\., or use one antelope fills \(in_features",
    ):
        construct(Deep, DIGITS, {})
    regression = spec_of(torch.rand(3, 64), torch.rand(3), num_classes=None)
    with pytest.raises(ConfigError, match="needs argument 'num_classes'"):  # only classification has classes
        construct(Deep, regression, {"depth": 2})


def test_an_unknown_user_argument_is_an_error_with_a_hint():
    with pytest.raises(ConfigError) as error:
        construct(Deep, DIGITS, {"depth": 2, "widht": 8})
    assert str(error.value) == (
        "model.widht: Deep.__init__ has no argument 'widht' (did you mean 'width'?); "
        "its arguments: in_features, num_classes, depth, width"
    )


def test_a_constructor_taking_any_keywords_takes_the_users():
    class Anything(nn.Module):
        def __init__(self, in_features, **options):
            super().__init__()
            self.in_features, self.options = in_features, options

    made, _ = construct(Anything, DIGITS, {"anything": 1})
    assert made.in_features == 64 and made.options == {"anything": 1}
