"""ml() in Python, as whole runs on Digits with tiny budgets: the seed page's model contracts, constructor
filling, optimizers, the result, statuses, resume. The loop's own rules are tested in test_trainer.py."""

import math
import os
import subprocess
import sys
import traceback
from pathlib import Path

import mlflow
import pytest
import torch
from conftest import runs
from models import Crashes, Deep, Model, NoLearn, SelfOptimizing, SignalsItself, SpecModel, Wider

import antelope
from antelope import ConfigError, ml
from antelope.train.interrupts import Interrupted

FAST = dict(dataset="Digits", train_steps=60, evaluate_per_steps=30, log_per_steps=10)


def test_learn_returning_a_loss_is_optimized_by_the_trainer():
    result = ml(model=Model, **FAST, lr=1e-2)
    assert result.metrics["eval/accuracy"] > 0.8  # random is 0.1
    history = mlflow.MlflowClient().get_metric_history(result.run_id, "train/loss")
    assert [m.step for m in history] == [10, 20, 30, 40, 50, 60]
    assert history[-1].value < history[0].value / 2


def test_learn_with_its_own_optimizer_is_not_stepped_by_the_trainer(monkeypatch):
    steps = []
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: steps.append(self) or None)
    with pytest.warns(UserWarning, match="optim.lr not used: SelfOptimizing has its own optimizer"):
        result = ml("optim.lr=0.5", agent=SelfOptimizing, **FAST)
    assert result.model.steps == 60 == len(steps)
    assert all(optimizer is result.model.optim for optimizer in steps)  # only the model's own
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(result.run_id, "train/loss")) == 6
    assert client.get_metric_history(result.run_id, "train/lr") == []  # no trainer optimizer


def test_spec_holds_statistics_computed_from_the_data():
    result = ml(model=SpecModel, **FAST)
    spec = result.model.spec
    assert spec.obs.shape == (1, 8, 8) and (spec.obs.low, spec.obs.high) == (0.0, 1.0)
    assert spec.obs.mean.shape == (1,) and 0.2 < spec.obs.mean.item() < 0.4
    assert spec.action.shape == (10,) and math.prod(spec.action.shape) == spec.num_classes == 10
    assert result.metrics["eval/accuracy"] > 0.7


def test_constructor_arguments_come_from_the_data_and_from_model_keys():
    result = ml("model.depth=3", model=Deep, **FAST)
    assert (result.model.depth, result.model.width) == (3, 16)
    assert result.model.MLP[1].in_features == 64 and result.model.MLP[-1].out_features == 10
    assert result.config["model"]["depth"] == 3
    with pytest.raises(ConfigError, match="Deep.__init__ needs argument 'depth'.*model.depth="):
        ml(model=Deep, **FAST)
    assert len(runs()) == 1  # the bad one started nothing


def test_model_given_as_instance_dotted_path_or_bundled_name():
    instance = Model(64, 10)
    assert ml(model=instance, **FAST).model is instance
    assert ml(model="models.Model", **FAST).metrics["eval/accuracy"] > 0.5
    assert type(ml(model="MLP", **FAST).model).__name__ == "MLP"


def test_a_model_without_learn_is_wrapped_by_the_default_agent():
    result = ml(model=NoLearn, **FAST)  # NoLearn asks for out_features: it becomes the agent's output head
    assert type(result.model).__name__ == "AC2Agent" and isinstance(result.model.actor, NoLearn)
    assert result.metrics["eval/accuracy"] > 0.5


def test_optimizer_and_scheduler_as_dict_name_and_dots():
    from torch.optim import AdamW
    from torch.optim.lr_scheduler import CosineAnnealingLR

    result = ml(
        model=Model,
        **FAST,
        optim={"_target_": AdamW, "lr": 1e-2},
        scheduler={"_target_": CosineAnnealingLR, "T_max": 1000},
    )
    assert result.config["optim"]["_target_"] == "torch.optim.adamw.AdamW"
    assert result.config["optim"]["lr"] == 1e-2 and result.config["scheduler"]["T_max"] == 1000
    result = ml(
        "optim=SGD",
        "optim.lr=0.05",
        "scheduler=StepLR",
        "scheduler.step_size=2",
        "scheduler.gamma=0.5",
        model=Model,
        **FAST,
    )
    lrs = [m.value for m in mlflow.MlflowClient().get_metric_history(result.run_id, "train/lr")]
    assert lrs[0] == pytest.approx(0.05) and lrs[-1] < 0.05  # stepped per epoch (22 steps per epoch)


def test_lr_shorthands_anneal_per_epoch():
    result = ml(model=Model, **FAST, lr=0.02, lr_decay_epochs=4)
    assert (
        result.config["scheduler"]["_target_"].endswith("CosineAnnealingLR")
        and result.config["scheduler"]["T_max"] == 4
    )
    lrs = [m.value for m in mlflow.MlflowClient().get_metric_history(result.run_id, "train/lr")]
    assert lrs[0] == pytest.approx(0.02) and lrs[-1] == pytest.approx(0.01)  # 2 of 4 epochs: half-way down


def test_epochs_instead_of_train_steps():
    result = ml(model=Model, dataset="Digits", epochs=2, batch_size=100)
    assert result.config["train_steps"] == 28  # 14 full batches of 100 per epoch


def test_each_call_is_its_own_run_and_nothing_leaks():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = ml(model=Model, **FAST, seed=1)
    second = ml(model=Model, **FAST, seed=1)
    third = ml(model=Model, **FAST, seed=2)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state is untouched
    assert mlflow.active_run() is None
    assert len({first.run_id, second.run_id, third.run_id}) == 3
    assert first.metrics == second.metrics != third.metrics  # same seed, same result
    table = runs("Digits")
    assert list(table["status"]) == ["FINISHED"] * 3 and list(table["params.seed"]) == ["1", "1", "2"]


def test_an_exception_in_learn_fails_the_run_reaches_the_caller_through_three_frames_of_ours():
    with pytest.raises(RuntimeError, match="boom in learn") as raised:
        ml(model=Crashes, **FAST)
    ours = [
        frame.name
        for frame in traceback.extract_tb(raised.value.__traceback__)
        if frame.filename.startswith(os.path.dirname(antelope.__file__) + os.sep)
    ]  # the package's, not tests/
    assert ours == ["ml", "run", "train"]  # ml() -> run -> train -> the model's learn
    table = runs()
    assert list(table["status"]) == ["FAILED"]
    artifact = mlflow.MlflowClient().download_artifacts(table["run_id"][0], "traceback.txt")
    assert "boom in learn" in open(artifact).read()


def test_keyboard_interrupt_marks_the_run_killed():
    class Interrupts(Model):
        def learn(self, replay):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ml(model=Interrupts, **FAST)
    assert list(runs()["status"]) == ["KILLED"]


def test_runs_have_readable_names_and_record_the_git_commit(workdir):
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "x"], check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    result = ml("optim=SGD", model=Model, **FAST)
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.info.run_name.startswith("Model optim=SGD dataset='Digits' train_steps=60")
    assert run.data.tags["mlflow.source.git.commit"] == commit and run.data.tags["antelope.task"] == "classification"


@pytest.mark.parametrize(
    "keys",
    [
        dict(precision="bf16"),
        dict(precision="fp16", grad_clip=1.0),
        dict(grad_accumulation=2, grad_clip=0.5),
        dict(channels_last=True),
        dict(augment=["flip", "shift"], channels_last=True),
        pytest.param(dict(compile=True), marks=pytest.mark.slow),  # torch.compile takes seconds to compile
    ],
)
def test_precision_accumulation_clipping_and_layout_keys_train(keys):
    result = ml(model=Model, **FAST, lr=1e-2, **keys)
    assert result.metrics["eval/accuracy"] > 0.6
    assert all(result.config[k] == v for k, v in keys.items())


def test_augment_needs_images(workdir):
    (workdir / "points.csv").write_text("x,y,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    with pytest.raises(ConfigError, match=r"augment=\['flip'\] needs images \(N, C, H, W\); dataset=points.csv"):
        ml(model=Model, dataset="points.csv", augment="flip")
    assert runs().empty


def _checkpoints(run_id):
    folder = mlflow.MlflowClient().get_run(run_id).info.artifact_uri + "/checkpoints"
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("augment", [[], ["flip", "shift"]])  # augmentation's random draws resume too
def test_an_interrupted_run_resumes_as_the_same_run_and_matches_an_uninterrupted_one(augment):
    SignalsItself.calls, SignalsItself.fired = 0, False
    keys = dict(FAST, evaluate_per_steps=20, seed=3, save_per_steps=1000, augment=augment)
    reference = ml(model=Model, **keys)
    with pytest.raises(Interrupted):
        ml(model=SignalsItself, **keys)  # SIGINT at step 35
    stopped = runs().query(f"run_id != '{reference.run_id}'").iloc[0]
    assert stopped["status"] == "KILLED"
    assert _checkpoints(stopped["run_id"]) == ["step_000000020.pt", "step_000000035.pt"]  # its evaluation's, its stop's
    first_stretch = stopped["metrics.cost/train_seconds"]
    assert first_stretch > 0  # recorded on the way out too

    resumed = ml(model=Model, resume=stopped["run_id"])
    assert resumed.run_id == stopped["run_id"]
    client = mlflow.MlflowClient()
    run = client.get_run(resumed.run_id)
    assert run.data.metrics["cost/train_seconds"] > first_stretch  # both stretches, added
    assert run.data.metrics["cost/parameters"] == sum(p.numel() for p in resumed.model.parameters())
    assert run.info.status == "FINISHED" and run.data.tags["resume_count"] == "1"
    assert run.data.params["train_steps"] == "60"  # params recorded once, unchanged
    assert resumed.metrics == pytest.approx(reference.metrics, abs=1e-6)
    losses = {m.step: m.value for m in client.get_metric_history(resumed.run_id, "train/loss")}
    expected = {m.step: m.value for m in client.get_metric_history(reference.run_id, "train/loss")}
    assert sorted(losses) == sorted(expected) == [10, 20, 30, 40, 50, 60]  # the step axis continues
    assert losses == pytest.approx(expected, rel=1e-5)
    assert torch.allclose(resumed.model.MLP[1].weight, reference.model.MLP[1].weight, atol=1e-6)


def test_load_true_continues_the_latest_run_and_resume_errors_are_clear():
    SignalsItself.calls, SignalsItself.fired = 0, False
    with pytest.raises(Interrupted):
        ml(model=SignalsItself, **FAST)
    killed = runs().iloc[0]
    with pytest.raises(ConfigError, match="drop lr"):
        ml(model=Model, resume=killed["run_id"], lr=0.1)
    with pytest.raises(ConfigError, match="does not fit Wider"):
        ml(model=Wider, resume=killed["run_id"])
    resumed = ml(model=Model, load=True)
    assert resumed.run_id == killed["run_id"]
    names = _checkpoints(resumed.run_id)
    assert names[-1] == "step_000000060.pt"
    folder = mlflow.MlflowClient().get_run(resumed.run_id).info.artifact_uri + "/checkpoints"
    for name in names:  # every checkpoint unreadable (the newest alone is skipped: test_worker_deaths.py)
        with open(os.path.join(folder, name), "wb") as file:
            file.write(b"not a checkpoint")
    with pytest.raises(ConfigError, match="has no readable checkpoint: cannot load checkpoint .*step_000000060.pt"):
        ml(model=Model, resume=resumed.run_id)
    assert list(runs()["status"]) == ["FINISHED"]


def test_a_run_stopped_before_its_first_checkpoint_starts_over_as_the_same_run(capsys):
    class Interrupts(Model):
        calls = 0

        def learn(self, replay):
            Interrupts.calls += 1
            if Interrupts.calls == 25:
                raise KeyboardInterrupt  # not a signal: no checkpoint is written on the way out
            return super().learn(replay)

    keys = dict(FAST, seed=3, save_per_steps=1000)
    reference = ml(model=Model, **keys)
    with pytest.raises(KeyboardInterrupt):
        ml(model=Interrupts, **keys)
    stopped = runs().query(f"run_id != '{reference.run_id}'").iloc[0]
    assert stopped["status"] == "KILLED" and not os.path.exists(
        mlflow.MlflowClient().get_run(stopped["run_id"]).info.artifact_uri + "/checkpoints"
    )
    resumed = ml(model=Model, resume=stopped["run_id"])
    assert f"run {stopped['run_id']} had no checkpoint yet: it starts over from step 0" in capsys.readouterr().err
    run = mlflow.MlflowClient().get_run(resumed.run_id)
    assert resumed.run_id == stopped["run_id"] and run.info.status == "FINISHED"
    assert run.data.tags["resume_count"] == "1" and len(runs()) == 2
    assert resumed.metrics == pytest.approx(reference.metrics, abs=1e-6)  # the same seed, from the start


# --- MLflow-native results: the model, the registry, forks, data, system metrics, reproduce ------------


def test_a_run_logs_its_model_the_mlflow_way_with_a_signature_an_example_and_its_metrics():
    import mlflow.pytorch
    import numpy as np

    from antelope import load

    result = ml(model=Model, **FAST)
    loaded = load(result.run_id)
    assert type(loaded) is Model and not loaded.training  # its own class, in eval mode, as it is used
    assert all(
        torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), result.model.state_dict().values(), strict=True)
    )
    info = mlflow.models.get_model_info(f"runs:/{result.run_id}/model")
    assert info.signature.inputs.to_dict() == [
        {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": (-1, 1, 8, 8)}}
    ]
    assert info.signature.outputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 10)
    folder = mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/model")
    example = mlflow.models.Model.load(folder).load_input_example(folder)
    assert example.shape == (5, 1, 8, 8)  # five test samples
    with torch.no_grad():
        expected = result.model.eval()(torch.from_numpy(example)).numpy()
        exported = mlflow.pytorch.load_model(f"runs:/{result.run_id}/model")  # pt2: torch.export's graph
        assert not hasattr(exported, "learn") and np.allclose(exported(torch.from_numpy(example)), expected, atol=1e-6)
    predicted = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model").predict(example)
    assert np.allclose(predicted, expected, atol=1e-6)
    logged = mlflow.search_logged_models(experiment_ids=[result.experiment_id], output_format="list")
    kept = int(mlflow.MlflowClient().get_run(result.run_id).data.tags["antelope.kept_step"])
    assert sorted(m.name for m in logged) == sorted(["model", f"step_{90 - kept:09d}"])  # evaluated at 30 and 60
    [model] = [m for m in logged if m.name == "model"]
    assert model.source_run_id == result.run_id and str(model.status) == "READY"
    assert model.tags["antelope.format"] == "pt2" and model.tags["antelope.step"] == str(kept)
    assert {m.key: m.value for m in model.metrics if m.step == kept} == pytest.approx(result.metrics)
    assert model.tags["antelope.model"] == "models.Model" and model.params["train_steps"] == "60"
    listed = {a.path for a in mlflow.MlflowClient().list_artifacts(result.run_id, "model")}  # the run's view of it
    assert "model/MLmodel" in listed and "model/state_dict.pt" not in listed


def test_logging_a_scripts_model_leaves_its_class_as_it_was():
    """A class defined in a script (here: in this function) is pickled by value; logging the model must not
    load it back in this process, which would rebind the class's methods to copies of what they use."""
    calls = []

    class Counted(Model):
        def learn(self, replay):
            calls.append(1)
            return super().learn(replay)

    ml(model=Counted, **FAST)
    ml(model=Counted, **FAST)
    assert len(calls) == 120  # both runs called the `calls` of this function


def test_register_adds_a_version_per_run_and_load_reads_runs_and_registered_models(capsys):
    from antelope import load

    first = ml(model=Model, **FAST, register="digits-model")
    second = ml(model=Model, **FAST, seed=1, register="digits-model")
    client = mlflow.MlflowClient()
    versions = sorted(client.search_model_versions("name = 'digits-model'"), key=lambda v: int(v.version))
    assert [(int(v.version), v.run_id) for v in versions] == [(1, first.run_id), (2, second.run_id)]
    assert client.get_run(second.run_id).data.tags["antelope.registered"] == "digits-model/2"
    assert "registered as digits-model version 2 (models:/digits-model/2)" in capsys.readouterr().err
    for source, trained in ((second.run_id, second), ("models:/digits-model/1", first)):
        model = load(source)
        assert all(
            torch.equal(a, b)
            for a, b in zip(model.state_dict().values(), trained.model.state_dict().values(), strict=True)
        )
    with pytest.raises(ConfigError, match=r"^no model at runs:/nope/model in sqlite:///.*; give a run id"):
        load("nope")


def test_a_model_uri_as_the_model_forks_a_run_from_its_weights():
    trained = ml(model=Model, **FAST)
    uri = f"runs:/{trained.run_id}/model"
    fork = ml(model=uri, **FAST, lr=0.0)  # lr 0: the fork's weights stay those it started from
    assert type(fork.model) is Model and fork.run_id != trained.run_id
    assert all(
        torch.equal(a, b)
        for a, b in zip(fork.model.state_dict().values(), trained.model.state_dict().values(), strict=True)
    )
    assert fork.metrics["eval/accuracy"] == pytest.approx(trained.metrics["eval/accuracy"])
    tags = mlflow.MlflowClient().get_run(fork.run_id).data.tags
    assert tags["antelope.forked_from"] == trained.run_id and tags["antelope.forked_from_model"] == uri
    with pytest.raises(ConfigError, match="model.depth: the model was given as an instance"):
        ml("model.depth=3", model=uri, **FAST)


def test_the_data_is_recorded_as_dataset_inputs_whose_digest_tells_file_versions_apart(workdir):
    import json

    import pandas as pd

    frame = pd.DataFrame(
        {
            "x": [float(i % 7) for i in range(60)],
            "y": [float(i % 5) for i in range(60)],
            "label": [i % 2 for i in range(60)],
        }
    )
    frame.to_csv("table.csv", index=False)
    first = ml(model=Model, dataset="table.csv", train_steps=2, batch_size=8)
    frame.loc[59, "x"] = 100.0  # one value of the last row changes
    frame.to_csv("table.csv", index=False)
    second = ml(model=Model, dataset="table.csv", train_steps=2, batch_size=8)

    def inputs(run_id):
        found = mlflow.MlflowClient().get_run(run_id).inputs.dataset_inputs
        return {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d.dataset for d in found}

    a, b = inputs(first.run_id), inputs(second.run_id)
    assert set(a) == {"train", "eval"} and a["train"].name == "table.csv"
    assert json.loads(a["train"].source) == {"uri": str(workdir / "table.csv")} and a["train"].source_type == "local"
    assert json.loads(a["train"].profile)["num_rows"] + json.loads(a["eval"].profile)["num_rows"] == 60
    features = json.loads(json.loads(a["train"].schema)["mlflow_tensorspec"]["features"])
    assert features == [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]
    assert {a["train"].digest, a["eval"].digest} != {b["train"].digest, b["eval"].digest}  # the changed row
    assert len({a["train"].digest, a["eval"].digest}) == 2


def test_system_metrics_are_recorded_by_default_and_can_be_turned_off():
    on = ml(model=Model, **FAST)
    off = ml(model=Model, **FAST, system_metrics=False)
    client = mlflow.MlflowClient()
    recorded = client.get_run(on.run_id).data.metrics
    assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= set(recorded)
    assert 0 <= recorded["system/cpu_utilization_percentage"] <= 100 * os.cpu_count()
    assert not [k for k in client.get_run(off.run_id).data.metrics if k.startswith("system/")]


def test_reproduce_reruns_the_recorded_config_as_a_new_run_and_says_what_changed_since(capsys):
    from antelope.processes import package_versions

    original = ml("optim=SGD", "optim.lr=0.05", model=Model, **FAST, seed=3)
    client = mlflow.MlflowClient()
    tags = client.get_run(original.run_id).data.tags
    assert tags["antelope.version.torch"] == package_versions()["torch"]
    assert {f"antelope.version.{name}" for name in ("antelope", "torch", "mlflow", "optuna")} <= set(tags)
    assert f"`ml reproduce={original.run_id}`" in tags["mlflow.note.content"]
    assert (
        "Its command: `ml optim=SGD optim.lr=0.05 model=models.Model dataset=Digits train_steps=60"
        in tags["mlflow.note.content"]
    )
    capsys.readouterr()

    again = ml(reproduce=original.run_id)
    assert again.run_id != original.run_id and again.metrics == original.metrics  # same config, same numbers
    assert client.get_run(again.run_id).data.tags["antelope.reproduced_from"] == original.run_id
    assert client.get_run(again.run_id).data.params["optim.lr"] == "0.05"
    assert "(same git commit and package versions)" in capsys.readouterr().err

    client.set_tag(original.run_id, "antelope.version.torch", "0.0.1")
    ml(reproduce=original.run_id, experiment="elsewhere")
    assert f"differs from it: torch 0.0.1 then, {package_versions()['torch']} now" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"reproduce runs a run's recorded config again; drop seed \(only device="):
        ml(reproduce=original.run_id, seed=4)
    with pytest.raises(ConfigError, match=r"^reproduce='nope': no such MLflow run in sqlite:///"):
        ml(reproduce="nope")


MODELS = Path(__file__).parent / "models.py"  # its classes, copied into a file, a script and a package


LOADER = """
import sys, numpy, mlflow
from antelope import ConfigError, load
for run_id in sys.argv[1:]:
    # MLflow's loaders need none of the user's code (pt2); antelope.load gives the user's class where it imports
    predicted = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(numpy.zeros((3, 1, 8, 8), "float32"))
    try:
        model = load(run_id)
        print(predicted.shape, "loaded", type(model).__name__, hasattr(model, "learn"))
    except ConfigError as error:
        print(predicted.shape, "error", error)
"""


@pytest.mark.slow
def test_a_logged_model_loads_in_a_fresh_process_that_never_imported_the_users_code(workdir):
    from conftest import run_ml

    source = MODELS.read_text()
    (workdir / "net.py").write_text(source)
    (workdir / "script.py").write_text(
        source + "\nfrom antelope import ml\nprint(ml(model=Model, train_steps=20).run_id)\n"
    )
    (workdir / "package").mkdir()
    (workdir / "package" / "__init__.py").write_text("")
    (workdir / "package" / "nets.py").write_text(source)
    ids = []
    for command in (["model=net.py:Model"], ["model=package.nets.Model"]):  # a file; a package in the project folder
        done = run_ml(*command, "train_steps=20")
        assert done.returncode == 0, done.stderr
        ids.append(done.stderr.split("ml: run ")[1].split()[0])
    script = subprocess.run([sys.executable, "script.py"], capture_output=True, text=True, timeout=300)
    assert script.returncode == 0, script.stderr
    ids.insert(1, script.stdout.split()[-1])

    elsewhere = workdir / "elsewhere"  # a process that never imported net.py, script.py or package/
    elsewhere.mkdir()
    loaded = subprocess.run(
        [sys.executable, "-c", LOADER, *ids],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=elsewhere,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.splitlines() == [
        "(3, 10) loaded Model True",  # the file's class travelled with the model, by value
        "(3, 10) loaded Model True",  # as the script's
        f"(3, 10) error the model at runs:/{ids[2]}/model is a package.nets.Model, which cannot be imported here (No "
        f"module named 'package'); install its package or run from the folder its module is in (PYTHONPATH)",
    ]
