"""Models from the libraries researchers use, through the real doors: torchvision's and timm's model functions
trained by ml() and the console, filled from the data, recorded, loaded, resumed, and swept over."""

import mlflow
import pytest
import torch
import torchvision
from conftest import runs

import antelope
from antelope import ml, sweep
from antelope.cli import main

pytestmark = pytest.mark.slow
SMALL = dict(train_steps=4, batch_size=8, evaluate_per_steps=0, system_metrics=False, save_per_steps=2)


def test_a_torchvision_function_on_fakedata_is_filled_recorded_loaded_and_resumed(workdir):
    result = ml(model=torchvision.models.resnet18, dataset="FakeData", image_size=32, **SMALL)
    params = mlflow.MlflowClient().get_run(result.run_id).data.params
    assert params["model._target_"] == "torchvision.models.resnet.resnet18" and params["model.num_classes"] == "10"
    assert isinstance(result.model.actor, torchvision.models.ResNet) and result.model.actor.fc.out_features == 10
    loaded = antelope.load(result.run_id)
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded.eval()(x), result.model.eval()(x))
    again = ml(resume=result.run_id, model=torchvision.models.resnet18, dataset="FakeData")  # the recorded config
    assert again.run_id == result.run_id and again.config["model"]["num_classes"] == 10


def test_a_torchvision_function_on_digits_upscaled_from_the_console(capsys):
    assert (
        main(
            [
                "model=torchvision.models.mobilenet_v3_small",
                "image_size=32",
                "transform=[RGB]",
                "eval_transform=[RGB]",
                *[f"{k}={v}" for k, v in SMALL.items()],
            ]
        )
        == 0
    )
    run = runs("Digits").iloc[0]
    assert run["params.model._target_"] == "torchvision.models.mobilenet_v3_small" and run["status"] == "FINISHED"
    assert run["params.model.num_classes"] == "10"


def test_timm_create_model_with_two_architectures(workdir):
    pytest.importorskip("timm", reason="timm is in the test extra (pip install -e '.[test]')")
    for name in ("resnet18", "mobilenetv3_small_050"):
        result = ml(model="timm.create_model", **{"model.model_name": name}, image_size=32, **SMALL)
        assert result.config["model"]["model_name"] == name and result.config["model"]["in_chans"] == 1
        assert result.config["model"]["num_classes"] == 10 and result.run_id is not None


def test_a_sweep_over_torchvision_architectures():
    study = sweep(
        space={"model": "choice(torchvision.models.resnet18, torchvision.models.mobilenet_v3_small)"},
        dataset="FakeData",
        image_size=32,
        trials=2,
        sampler="grid",
        pruner="none",
        **SMALL,
    )
    assert sorted(t.params["model"] for t in study.trials) == [
        "torchvision.models.mobilenet_v3_small",
        "torchvision.models.resnet18",
    ]
    assert {t.state.name for t in study.trials} == {"COMPLETE"}
