"""antelope.run.keeping on its own: each evaluation's model logged in a real MLflow store, the newest k and the best
kept, the best (or the last) kept as the run's model with its weights back from its checkpoint, a resumed run's
models after its checkpoint deleted; a tiny model and no training loop."""

import os
import subprocess
import sys
from types import SimpleNamespace

import mlflow
import pytest
import torch
from models import Model

from antelope import ConfigError, ml, tracking
from antelope.run.keeping import Keeper
from antelope.train import checkpoint


def task(name="classification"):
    return SimpleNamespace(
        model=torch.nn.Linear(3, 2),
        spec=SimpleNamespace(task_name=name),
        device=torch.device("cpu"),
        examples=torch.zeros(4, 3),
        steps=50,
        env=None,
    )


def evaluate(keeper, tracked, step, metrics):
    """What the run does at an evaluation: the model (its weights all `step`) logged, its metrics written (linked
    to it), its checkpoint saved keeping the newest two and the best's."""
    with torch.no_grad():
        keeper.task.model.weight.fill_(step)
    keeper.evaluated(step, metrics)
    tracked.log_metrics(metrics, step, flush=True)
    checkpoint.save_in_run(tracked, {"step": step, "model": keeper.task.model.state_dict()}, 2, also=keeper.best_step)


def names(run_id):
    return [(m.name, m.step) for m in tracking.run_models(run_id)]


ACCURACY = {10: 0.5, 20: 0.9, 30: 0.6, 40: 0.7, 50: 0.65}


@pytest.mark.parametrize("keep_model", ["best", "last"])
def test_each_evaluation_is_a_logged_model_and_the_best_or_the_last_becomes_the_runs_model(keep_model):
    with tracking.Run.start("keeping", {"lr": 0.1}, {}, "r") as tracked:
        keeper = Keeper(tracked, task(), keep_model=keep_model, keep=2, params={"lr": 0.1})
        for step, accuracy in ACCURACY.items():
            evaluate(keeper, tracked, step, {"eval/accuracy": accuracy})
        last = "step_000000050" if keep_model == "best" else "model"  # the last, kept: the run's model at once
        assert names(tracked.run_id) == [("step_000000020", 20), ("step_000000040", 40), (last, 50)]
        folder = tracked.local_artifact_folder() + "/checkpoints"
        assert checkpoint.latest(folder).endswith("step_000000050.pt")
        result = keeper.finish({"eval/accuracy": 0.65})
    step = 20 if keep_model == "best" else 50
    assert result == {"eval/accuracy": ACCURACY[step]}
    assert torch.all(keeper.task.model.weight == step)  # the kept step's weights, from its checkpoint
    assert ("model", step) in names(tracked.run_id) and len(names(tracked.run_id)) == 3  # its step's copy deleted
    ranked = mlflow.search_logged_models(
        experiment_ids=[tracked.experiment_id],
        order_by=[{"field_name": "metrics.eval/accuracy", "ascending": False}],
        output_format="list",
    )
    assert [m.name for m in ranked][0] == ("model" if keep_model == "best" else "step_000000020")
    run = mlflow.MlflowClient().get_run(tracked.run_id)
    assert run.data.tags["antelope.kept_step"] == str(step) and run.data.tags["antelope.keep_model"] == keep_model
    assert run.data.metrics["kept/accuracy"] == ACCURACY[step]
    assert tracking.load_model(tracked.run_id).weight.eq(step).all()


def test_a_kept_step_whose_checkpoint_is_gone_gets_its_weights_from_its_logged_model():
    with tracking.Run.start("keeping", {"lr": 0.1}, {}, "r") as tracked:
        keeper = Keeper(tracked, task(), keep_model="best", keep=2, params={"lr": 0.1})
        for step, accuracy in ACCURACY.items():
            evaluate(keeper, tracked, step, {"eval/accuracy": accuracy})
        os.remove(tracked.local_artifact_folder() + "/checkpoints/step_000000020.pt")  # as if never uploaded
        assert keeper.finish({"eval/accuracy": 0.65}) == {"eval/accuracy": 0.9}
    assert torch.all(keeper.task.model.weight == 20)  # step 20's weights all the same
    assert tracking.load_model(tracked.run_id).weight.eq(20).all()


def test_a_minimized_metric_keeps_its_lowest_and_a_tie_keeps_the_later():
    with tracking.Run.start("keeping", {}, {}, "r") as tracked:
        keeper = Keeper(tracked, task("regression"), keep_model="best", keep=1, params={})
        for step, mse in {10: 0.3, 20: 0.1, 30: 0.1, 40: 0.2, 50: 0.4}.items():
            evaluate(keeper, tracked, step, {"eval/mse": mse})
        assert keeper.best().step == 30 and names(tracked.run_id) == [("step_000000030", 30), ("step_000000050", 50)]
        assert keeper.finish({"eval/mse": 0.4}) == {"eval/mse": 0.1}


def test_a_resumed_run_keeps_its_models_up_to_its_checkpoint_and_deletes_those_evaluated_after_it():
    with tracking.Run.start("keeping", {}, {}, "r") as tracked:
        keeper = Keeper(tracked, task(), keep_model="best", keep=5, params={})
        for step in (10, 20, 30):
            evaluate(keeper, tracked, step, {"eval/accuracy": ACCURACY[step]})
    cfg = SimpleNamespace(keep_model="best", keep_checkpoints=5, evaluate_episodes=1, register=None)
    with tracking.Run.reopen(tracked.run_id) as reopened:  # resumed at step 20: step 30 is evaluated again
        resumed = Keeper.open(cfg, task(), reopened, {}, 20, resumed=object())
        assert [m.step for m in resumed.models] == [10, 20] and resumed.best().step == 20
        assert names(tracked.run_id) == [("step_000000010", 10), ("step_000000020", 20)]
        assert resumed.models[1].metrics == {"eval/accuracy": 0.9}  # read back from the store


# --- through ml(): the kept model of a real run, its format, loading without unpickling ------------------------

FAST = dict(dataset="Digits", train_steps=60, evaluate_per_steps=20, log_per_steps=10, lr=0.01)


class Forgets(Model):
    """Learns for 40 steps, then climbs its loss: its last evaluation is worse than an earlier one."""

    calls = 0

    def learn(self, replay):
        Forgets.calls += 1
        loss = super().learn(replay)
        return loss if Forgets.calls <= 40 else -loss


class Branches(Model):
    """A forward whose control flow depends on the data: torch.export cannot export it."""

    def forward(self, x):
        logits = self.MLP(x)
        return logits if x.sum() > 0 else -logits


def test_mlflow_checks_a_models_requirements_through_the_one_name_saving_ours_replaces(tmp_path, monkeypatch):
    """tracking.models skips MLflow's check of the requirements it gives (the running environment's versions;
    the check reads every installed distribution first): it must still be MLflow's name for that check."""
    import mlflow.pytorch
    import mlflow.utils.environment as environment

    from antelope.tracking.models import _requirements_unchecked

    checked = []
    monkeypatch.setattr(environment, "warn_dependency_requirement_mismatches", checked.append)
    requirements = [f"torch=={torch.__version__}"]
    as_pickle = {"serialization_format": "pickle"}  # no input example to export with
    mlflow.pytorch.save_model(torch.nn.Linear(2, 1), tmp_path / "a", pip_requirements=requirements, **as_pickle)
    assert len(checked) == 1 and f"torch=={torch.__version__}" in checked[0]  # save_model checks through it
    with _requirements_unchecked():
        mlflow.pytorch.save_model(torch.nn.Linear(2, 1), tmp_path / "b", pip_requirements=requirements, **as_pickle)
    assert len(checked) == 1  # not while ours are saved
    assert environment.warn_dependency_requirement_mismatches == checked.append  # and given back after
    assert (tmp_path / "b" / "requirements.txt").read_text().splitlines()[1:] == requirements  # after mlflow


@pytest.mark.slow
@pytest.mark.parametrize("keep_model", ["best", "last"])
def test_a_run_keeps_its_best_evaluated_model_not_its_last(keep_model, capsys):
    from antelope import load

    Forgets.calls = 0
    result = ml(model=Forgets, keep_model=keep_model, **FAST)
    client = mlflow.MlflowClient()
    history = {m.step: m.value for m in client.get_metric_history(result.run_id, "eval/accuracy")}
    assert sorted(history) == [20, 40, 60] and history[60] < max(history.values())  # it forgot
    best = max(reversed(sorted(history)), key=history.get)
    kept = best if keep_model == "best" else 60
    run = client.get_run(result.run_id)
    assert run.data.tags["antelope.kept_step"] == str(kept) and result.metrics == {"eval/accuracy": history[kept]}
    assert run.data.metrics["kept/accuracy"] == history[kept]
    said = capsys.readouterr().err
    assert (f"ml: keeps the model of step {kept} (eval/accuracy" in said) == (keep_model == "best")
    folder = run.info.artifact_uri + "/checkpoints"
    saved = torch.load(f"{folder}/step_{kept:09d}.pt", weights_only=True)["model"]
    for trained in (result.model, load(result.run_id)):  # ml()'s module and the run's model: the kept step's
        assert all(torch.equal(a, saved[k]) for k, a in trained.state_dict().items())
    if keep_model == "best":
        with pytest.raises(ConfigError, match=r"^keep_model=best picks the best of a run's evaluations, and "):
            ml(model=Model, keep_model="best", evaluate_per_steps=0, train_steps=10)
    with pytest.raises(ConfigError, match=r"^keep_model='worst' is not valid: choose one of best, last$"):
        ml(model=Model, keep_model="worst", train_steps=10)


@pytest.mark.slow
def test_a_model_that_does_not_export_is_saved_as_pickle_said_once(capsys):
    import mlflow.pytorch

    result = ml(model=Branches, **FAST)
    said = capsys.readouterr().err
    assert said.count("ml: the model is saved as pickle, not pt2 (torch.export could not export it: ") == 1
    [model] = [m for m in tracking.run_models(result.run_id) if m.name == "model"]
    assert model.format == "pickle" and type(mlflow.pytorch.load_model(f"runs:/{result.run_id}/model")) is Branches


LOADS_WITHOUT_PICKLES = """
import sys, numpy, torch, mlflow, mlflow.pytorch
from antelope import load
exported, pickled = sys.argv[1:]
graph = mlflow.pytorch.load_model(f"runs:/{exported}/model")
zeros = numpy.zeros((3, 1, 8, 8), "float32")
print(type(graph).__name__, mlflow.pyfunc.load_model(f"runs:/{exported}/model").predict(zeros).shape)
print(type(load(exported)).__name__)
try:
    mlflow.pytorch.load_model(f"runs:/{pickled}/model")
except Exception as error:
    print(type(error).__name__, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION" in str(error))
"""


@pytest.mark.slow
def test_an_exported_model_loads_where_pickles_are_not_allowed_and_a_pickled_one_does_not(workdir):
    exported, pickled = ml(model=Model, **FAST), ml(model=Branches, **FAST)
    loaded = subprocess.run(
        [sys.executable, "-c", LOADS_WITHOUT_PICKLES, exported.run_id, pickled.run_id],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=workdir,
        env={**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false"},
    )
    assert loaded.returncode == 0, loaded.stderr
    graph, loaded_by_antelope, refused = loaded.stdout.splitlines()
    assert "GraphModule" in loaded_by_antelope  # antelope.load: the exported graph too, not the class
    assert graph == f"{loaded_by_antelope} (3, 10)" and refused == "MlflowException True"
    assert "MLFLOW_ALLOW_PICKLE_DESERIALIZATION=false: runs:/" in loaded.stderr


@pytest.mark.slow
def test_mlflow_models_serve_serves_an_exported_model_where_pickles_are_not_allowed(workdir):
    import json
    import socket
    import urllib.request

    result = ml(model=Model, **FAST)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bin_folder = os.path.dirname(sys.executable)  # mlflow and uvicorn, as a user's environment has them
    server = subprocess.Popen(
        [os.path.join(bin_folder, "mlflow"), "models", "serve", "-m", f"runs:/{result.run_id}/model"]
        + ["--env-manager", "local", "-p", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "false",
            "PATH": f"{bin_folder}:{os.environ['PATH']}",
        },
    )
    try:
        said = []
        for line in server.stdout:  # until it listens (or ends: then the assertion below shows why)
            said.append(line)
            if "Uvicorn running on" in line:
                break
        assert server.poll() is None, "".join(said)
        samples = torch.rand(3, 1, 8, 8)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": samples.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            predictions = torch.tensor(json.loads(answer.read())["predictions"])
        with torch.no_grad():
            assert torch.allclose(predictions, result.model.eval()(samples), atol=1e-5)
    finally:
        server.terminate()
        server.wait(timeout=60)
