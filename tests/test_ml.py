"""ml() in Python: the seed page's model contracts, constructor filling, optimizers, the result."""
import math

import mlflow
import pytest
import torch
from conftest import runs
from models import Crashes, Deep, Model, NoLearn, SelfOptimizing, SpecModel, VectorLoss

from antelope import ConfigError, ml

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
    result = ml(agent=SelfOptimizing, **FAST)
    assert result.model.steps == 60
    assert all(optimizer is result.model.optim for optimizer in steps)  # only the model's own
    assert len(steps) == 60
    client = mlflow.MlflowClient()
    assert len(client.get_metric_history(result.run_id, "train/loss")) == 6
    assert client.get_metric_history(result.run_id, "train/lr") == []  # no trainer optimizer


def test_spec_holds_statistics_computed_from_the_data():
    result = ml(model=SpecModel, **FAST)
    spec = result.model.spec
    assert spec.obs.shape == (1, 8, 8)
    assert spec.obs.low == 0.0 and spec.obs.high == 1.0
    assert spec.obs.mean.shape == (1,) and 0.2 < spec.obs.mean.item() < 0.4
    assert spec.obs.stddev.shape == (1,) and 0.3 < spec.obs.stddev.item() < 0.5
    assert spec.action.shape == (10,) and math.prod(spec.action.shape) == spec.num_classes == 10
    assert spec.action.discrete and (spec.action.low, spec.action.high) == (0.0, 9.0)
    assert result.metrics["eval/accuracy"] > 0.7


def test_constructor_arguments_come_from_the_data_and_from_model_keys():
    result = ml("model.depth=3", model=Deep, **FAST)
    assert (result.model.depth, result.model.width) == (3, 16)
    assert result.model.MLP[1].in_features == 64 and result.model.MLP[-1].out_features == 10
    assert result.config["model"]["depth"] == 3


def test_an_argument_nobody_can_fill_is_a_clear_error():
    with pytest.raises(ConfigError, match="Deep.__init__ needs argument 'depth'.*model.depth="):
        ml(model=Deep, **FAST)
    with pytest.raises(ConfigError, match="has no argument 'dpth' \\(did you mean 'depth'"):
        ml("model.dpth=3", model=Deep, **FAST)
    assert runs().empty  # nothing was started


def test_model_given_as_instance_or_dotted_path():
    instance = Model(64, 10)
    result = ml(model=instance, **FAST)
    assert result.model is instance
    assert ml(model="models.Model", **FAST).metrics["eval/accuracy"] > 0.5
    assert ml(model="antelope.agents.MLP", **FAST).metrics["eval/accuracy"] > 0.5


def test_a_model_without_learn_is_wrapped_by_the_default_agent():
    result = ml(model=NoLearn, **FAST)  # NoLearn asks for out_features: it becomes the agent's output head
    assert type(result.model).__name__ == "AC2Agent" and isinstance(result.model.actor, NoLearn)
    assert result.metrics["eval/accuracy"] > 0.5


def test_replay_gives_device_batches_by_index_with_epochs():
    seen = {}

    class Probe(Model):
        def learn(self, replay):
            batch = next(replay)
            seen.setdefault("first", (batch.obs.dtype, batch.label.dtype, batch.obs.shape, len(replay)))
            seen["epoch"] = replay.epoch
            return super().learn(replay)

    ml(model=Probe, dataset="Digits", batch_size=100, train_steps=30)
    assert seen["first"] == (torch.float32, torch.int64, (100, 1, 8, 8), 14)  # 1437 training samples
    assert seen["epoch"] == 4  # 60 batches drawn, 14 per epoch


def test_replay_batches_are_the_same_copied_or_gathered_and_resume_mid_epoch(monkeypatch):
    from antelope import replay as replays

    obs, label = torch.arange(100.).reshape(50, 2), torch.arange(50)

    def draws(replay, n):
        return [next(replay) for _ in range(n)]

    copied = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    monkeypatch.setattr(replays, "SHUFFLED_COPY_BYTES", 0)  # the path of data too large to copy
    gathered = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    first = draws(copied, 4)
    assert len(copied) == 3 and copied.epoch == 1  # 3 full batches per epoch: the 4th draw starts epoch 1
    assert all(torch.equal(b.obs[:, 0], 2 * b.label.float()) for b in first)  # each obs with its label
    assert len(set(torch.cat([b.label for b in first[:3]]).tolist())) == 48  # once each per epoch, 2 left out
    assert all(torch.equal(a.obs, b.obs) and torch.equal(a.label, b.label) for a, b in zip(first, draws(gathered, 4)))
    for replay in (copied, gathered):
        state = replay.state_dict()
        expected = draws(replay, 5)  # into epoch 2
        resumed = replays.Replay(obs, label, 16, torch.device("cpu"), seed=1)
        resumed.load_state_dict(state)
        assert all(torch.equal(a.label, b.label) for a, b in zip(expected, draws(resumed, 5)))
        assert resumed.epoch == replay.epoch == 2


def test_replay_arranging_epochs_ahead_draws_what_one_epoch_at_a_time_does(monkeypatch):
    from antelope import replay as replays

    obs, label = torch.arange(100.).reshape(50, 2), torch.arange(50)
    ahead = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    monkeypatch.setattr(replays, "ARRANGED_BATCHES", 1)
    one_by_one = replays.Replay(obs, label, 16, torch.device("cpu"), seed=0)
    assert len(one_by_one._batches) == 3 and len(ahead._batches) > 3 * 3  # small data: epochs arranged ahead
    for _ in range(200):  # across several arrangements
        a, b = next(ahead), next(one_by_one)
        assert torch.equal(a.label, b.label) and torch.equal(a.obs, b.obs) and ahead.epoch == one_by_one.epoch
    resumed = replays.Replay(obs, label, 16, torch.device("cpu"), seed=1)
    resumed.load_state_dict(ahead.state_dict())
    assert all(torch.equal(next(resumed).label, next(one_by_one).label) for _ in range(200))


def test_log_accepts_attributes_and_calls():
    class Logs(Model):
        def learn(self, replay, log):
            loss = super().learn(replay)
            log.twice = loss * 2
            log(constant=3, also=torch.tensor(1.5))
            return loss

    result = ml(model=Logs, **FAST)
    client = mlflow.MlflowClient()
    loss = client.get_metric_history(result.run_id, "train/loss")
    twice = client.get_metric_history(result.run_id, "train/twice")
    assert [m.value for m in twice] == pytest.approx([2 * m.value for m in loss], rel=1e-5)
    assert {m.value for m in client.get_metric_history(result.run_id, "train/constant")} == {3.0}
    assert {m.value for m in client.get_metric_history(result.run_id, "train/also")} == {1.5}


def test_optimizer_and_scheduler_as_dict_name_and_dots():
    from torch.optim import AdamW
    from torch.optim.lr_scheduler import CosineAnnealingLR

    result = ml(model=Model, **FAST, optim={"_target_": AdamW, "lr": 1e-2},
                scheduler={"_target_": CosineAnnealingLR, "T_max": 1000})
    assert result.config["optim"]["_target_"] == "torch.optim.adamw.AdamW"
    assert result.config["optim"]["lr"] == 1e-2 and result.config["scheduler"]["T_max"] == 1000
    result = ml("optim=SGD", "optim.lr=0.05", "optim.momentum=0.9", "scheduler=StepLR", "scheduler.step_size=2",
                "scheduler.gamma=0.5", model=Model, **FAST)
    assert result.config["optim"]["_target_"].endswith("SGD") and result.config["optim"]["momentum"] == 0.9
    lrs = [m.value for m in mlflow.MlflowClient().get_metric_history(result.run_id, "train/lr")]
    assert lrs[0] == pytest.approx(0.05) and lrs[-1] < 0.05  # stepped per epoch (22 steps per epoch)
    result = ml(model=Model, **FAST, optim={"_target_": "torch.optim.RMSprop", "lr": 1e-3})
    assert result.config["optim"]["_target_"].endswith("RMSprop")


def test_lr_shorthands_and_explicit_keys_win_with_a_warning():
    result = ml(model=Model, **FAST, lr=0.02, lr_decay_epochs=4)
    assert result.config["optim"]["lr"] == 0.02
    assert result.config["scheduler"]["_target_"].endswith("CosineAnnealingLR")
    assert result.config["scheduler"]["T_max"] == 4
    lrs = [m.value for m in mlflow.MlflowClient().get_metric_history(result.run_id, "train/lr")]
    assert lrs[0] == pytest.approx(0.02) and lrs[-1] == pytest.approx(0.01)  # 2 of 4 epochs: half-way down
    with pytest.warns(UserWarning, match="lr=0.5 is not used: optim.lr=0.001"):
        result = ml("optim.lr=0.001", model=Model, **FAST, lr=0.5)
    assert result.config["optim"]["lr"] == 0.001


def test_epochs_instead_of_train_steps():
    result = ml(model=Model, dataset="Digits", epochs=2, batch_size=100)
    assert result.config["train_steps"] == 28
    with pytest.raises(ConfigError, match="either train_steps=.* or epochs"):
        ml(model=Model, dataset="Digits", epochs=2, train_steps=10)


def test_each_call_is_its_own_run_and_nothing_leaks():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = ml(model=Model, **FAST, seed=1)
    second = ml(model=Model, **FAST, seed=1)
    third = ml(model=Model, **FAST, seed=2)
    assert torch.equal(torch.get_rng_state(), state)  # the caller's random state is untouched
    assert mlflow.active_run() is None
    assert len({first.run_id, second.run_id, third.run_id}) == 3
    assert first.metrics == second.metrics  # same seed, same result
    table = runs("Digits")
    assert list(table["status"]) == ["FINISHED"] * 3
    assert list(table["params.seed"]) == ["1", "1", "2"]


def test_an_exception_in_learn_fails_the_run_and_reaches_the_caller():
    with pytest.raises(RuntimeError, match="boom in learn"):
        ml(model=Crashes, **FAST)
    table = runs()
    assert list(table["status"]) == ["FAILED"]
    client = mlflow.MlflowClient()
    artifact = client.download_artifacts(table["run_id"][0], "traceback.txt")
    assert "boom in learn" in open(artifact).read()


def test_learn_returning_a_non_scalar_is_a_clear_error_and_fails_the_run():
    with pytest.raises(ConfigError, match="VectorLoss.learn must return a scalar loss.*shape \\(64,\\)"):
        ml(model=VectorLoss, **FAST)
    assert list(runs()["status"]) == ["FAILED"]


def test_keyboard_interrupt_marks_the_run_killed():
    class Interrupted(Model):
        def learn(self, replay):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ml(model=Interrupted, **FAST)
    assert list(runs()["status"]) == ["KILLED"]


def test_bad_names_are_clear_errors_with_close_matches():
    with pytest.raises(ConfigError, match="unknown optimizer optim='SGDD' \\(did you mean 'SGD'"):
        ml("optim=SGDD", model=Model)
    with pytest.raises(ConfigError, match="unknown scheduler scheduler='Cosine"):
        ml("scheduler=CosineAnealingLR", model=Model)
    with pytest.raises(ConfigError, match="unknown config key 'trian_steps' \\(did you mean 'train_steps'"):
        ml("trian_steps=3", model=Model)
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr' \\(did you mean 'optim.lr'"):
        ml("optim.lrr=3", model=Model)
    with pytest.raises(ConfigError, match="unknown dataset 'CIFAR1O' \\(did you mean 'CIFAR10'"):
        ml(model=Model, dataset="CIFAR1O")
    with pytest.raises(ConfigError, match="bad value for batch_size"):
        ml(model=Model, batch_size="many")
    with pytest.raises(ConfigError, match="batch_size=0 must be a positive"):
        ml(model=Model, batch_size=0)
    assert runs().empty


def test_runs_have_readable_names():
    result = ml("optim=SGD", model=Model, **FAST)
    run = mlflow.MlflowClient().get_run(result.run_id)
    assert run.info.run_name.startswith("Model optim=SGD dataset='Digits' train_steps=60")


@pytest.mark.parametrize("keys", [dict(precision="bf16"), dict(precision="fp16", grad_clip=1.0),
                                  dict(grad_accumulation=2, grad_clip=0.5), dict(channels_last=True), dict(compile=True)])
def test_precision_accumulation_and_clipping_keys_train(keys):
    result = ml(model=Model, **FAST, lr=1e-2, **keys)
    assert result.metrics["eval/accuracy"] > 0.6
    assert all(result.config[k] == v for k, v in keys.items())


class SeesBatches(Model):
    """Keeps the batches learn draws, to compare with the data the replay holds."""

    def learn(self, replay):
        batch = next(replay)
        self.__dict__.setdefault("batches", []).append(batch.obs)
        self.data = replay.obs
        return super().learn(iter([batch]))


def test_augment_flips_and_shifts_each_sample_on_its_own():
    result = ml(model=SeesBatches, dataset="Digits", train_steps=3, augment="flip")
    data = result.model.data.flatten(1)
    seen = torch.cat(result.model.batches)
    mirrored = seen.flip(3).flatten(1)
    # every flipped batch image is a training image, as it is or mirrored; both occur in one batch
    as_is = (seen.flatten(1)[:, None] == data[None]).all(-1).any(1)
    flipped = (mirrored[:, None] == data[None]).all(-1).any(1)
    assert (as_is | flipped).all() and as_is[:64].sum() not in (0, 64) and flipped[:64].any()
    shifted = ml(model=SeesBatches, dataset="Digits", train_steps=3, augment=["shift"]).model.batches[0]
    matches = (shifted.flatten(1)[:, None] == data[None]).all(-1).any(1)
    assert matches.sum() < 32  # most images moved (1 in 9 draws no move); learning still works:
    result = ml(model=Model, dataset="Digits", train_steps=300, lr=1e-2, augment=["shift"], evaluate_per_steps=0)
    assert result.metrics["eval/accuracy"] > 0.8


def test_augment_and_channels_last_keep_the_batch_format():
    result = ml(model=SeesBatches, dataset="Digits", train_steps=25, augment=["flip", "shift"], channels_last=True)
    assert all(obs.is_contiguous(memory_format=torch.channels_last) for obs in result.model.batches)
    assert result.config["augment"] == ["flip", "shift"]


def test_augment_names_and_data_are_checked(workdir):
    with pytest.raises(ConfigError, match="augment='flop' is not valid: choose from flip, shift"):
        ml(model=Model, augment=["flop"])
    (workdir / "points.csv").write_text("x,y,label\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    with pytest.raises(ConfigError, match=r"augment=\['flip'\] needs images \(N, C, H, W\); dataset=points.csv"):
        ml(model=Model, dataset="points.csv", augment="flip")
    assert runs().empty


def test_metrics_are_written_in_a_few_batches_per_evaluation_whatever_the_step_count(monkeypatch):
    writes = []
    log_batch = mlflow.MlflowClient.log_batch

    def counted(self, run_id, metrics=(), **kwargs):
        writes.append(len(metrics))
        return log_batch(self, run_id, metrics=metrics, **kwargs)

    monkeypatch.setattr(mlflow.MlflowClient, "log_batch", counted)
    for log_per_steps in (100, 1):
        writes.clear()
        result = ml(model=Model, dataset="Digits", train_steps=1200, evaluate_per_steps=400, log_per_steps=log_per_steps)
        metric_writes = [n for n in writes if n]
        metrics = sum(metric_writes)  # MLflow takes at most 1000 metrics per write
        assert len(metric_writes) <= 2 * 3 + metrics // 1000  # 3 evaluations: a write at each, one per 10 s
        history = mlflow.MlflowClient().get_metric_history(result.run_id, "train/loss")
        assert len(history) == 1200 // log_per_steps  # every value is there, batched
