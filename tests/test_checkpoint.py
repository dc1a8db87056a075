"""antelope.train.checkpoint on its own: what a checkpoint holds, restoring it into fresh pieces, writing the newest
k atomically, into a run's artifact folder or uploaded (no MLflow run)."""

import os

import pytest
import torch

from antelope.data.replay import Replay
from antelope.errors import ConfigError
from antelope.train import checkpoint
from antelope.train.log import Log
from antelope.train.update import Update


def pieces(seed):
    """A model that also keeps an optimizer of its own, the trainer's update, a replay and a log."""
    torch.manual_seed(seed)
    model = torch.nn.Linear(2, 2)
    model.own = torch.optim.SGD(model.parameters(), lr=0.5)
    update = Update(torch.optim.Adam(model.parameters(), lr=0.01))
    obs = torch.arange(40.0).reshape(20, 2)
    return model, update, Replay(obs, torch.arange(20) % 2, 4, torch.device("cpu"), seed=seed), Log()


def test_a_checkpoint_restored_into_fresh_pieces_continues_where_it_stood():
    model, update, replay, log = pieces(0)
    for _ in range(7):  # into the second epoch
        batch = next(replay)
        update.backward(model(batch.obs).pow(2).mean())
        update.step(replay.epoch)
    log.loss = 0.25
    saved = checkpoint.state(7, model, update, replay, log, {"eval/accuracy": 0.5}, "run-id")
    assert saved["run_id"] == "run-id" and saved["own"].keys() == {"own"}

    fresh_model, fresh_update, fresh_replay, _ = pieces(1)  # other seeds: other weights, another order
    step, metrics, pending = checkpoint.restore(saved, fresh_model, fresh_update, fresh_replay)
    assert (step, metrics, pending) == (7, {"eval/accuracy": 0.5}, {"loss": [0.25]})
    assert torch.equal(fresh_model.weight, model.weight) and fresh_replay.epoch == replay.epoch
    assert torch.equal(next(fresh_replay).label, next(replay).label)  # the same next batch
    assert fresh_update.optimizer.state_dict()["state"][0]["step"] == update.optimizer.state_dict()["state"][0]["step"]
    with pytest.raises(ConfigError, match="the checkpoint does not fit Linear"):
        checkpoint.restore(saved, torch.nn.Linear(3, 2), None, fresh_replay)


def test_saving_keeps_the_newest_k_which_load_with_weights_only(tmp_path):
    tmp_path = tmp_path / "checkpoints"
    model, update, replay, log = pieces(0)
    for step in (10, 20, 30):
        checkpoint.save(str(tmp_path), checkpoint.state(step, model, update, replay, log, {}, "r"), keep=2)
    assert sorted(os.listdir(tmp_path)) == ["step_000000020.pt", "step_000000030.pt"]  # no partial file left
    assert checkpoint.latest(str(tmp_path)) == str(tmp_path / "step_000000030.pt")
    assert checkpoint.latest(str(tmp_path / "none")) is None
    loaded = torch.load(checkpoint.latest(str(tmp_path)), weights_only=True)
    assert loaded["step"] == 30 and torch.equal(loaded["model"]["weight"], model.weight)
    (tmp_path / "step_000000040.pt").write_bytes(b"\x00garbage")
    with pytest.raises(ConfigError, match="cannot load checkpoint .*step_000000040.pt"):
        checkpoint.load(checkpoint.latest(str(tmp_path)), "cpu")


class Run:
    """A run's artifacts as checkpoint.save_in_run sees them: a local folder, or an upload that may fail."""

    def __init__(self, folder=None, fails=False):
        self.folder, self.fails, self.uploaded = folder, fails, []

    def local_artifact_folder(self):
        return self.folder

    def log_artifact(self, path, folder):
        if self.fails:
            raise ConnectionError("server gone")
        self.uploaded.append((os.path.basename(path), folder, os.path.getsize(path)))

    def artifact_names(self, folder):
        return [name for name, where, _ in self.uploaded if where == folder]

    def delete_artifact(self, path):
        folder, name = path.split("/")
        self.uploaded = [entry for entry in self.uploaded if entry[:2] != (name, folder)]


def test_a_checkpoint_goes_into_a_local_artifact_folder_or_is_uploaded(tmp_path, capsys):
    tmp_path = tmp_path / "artifacts"
    model, update, replay, log = pieces(0)
    state = checkpoint.state(5, model, update, replay, log, {}, "r")
    checkpoint.save_in_run(Run(str(tmp_path)), state, keep=2)
    assert os.listdir(tmp_path / "checkpoints") == ["step_000000005.pt"]
    remote = Run()
    checkpoint.save_in_run(remote, state, keep=2)
    assert [(name, folder) for name, folder, _ in remote.uploaded] == [("step_000000005.pt", "checkpoints")]
    checkpoint.save_in_run(Run(fails=True), state, keep=2)  # training goes on; the user is told
    assert "checkpoint at step 5 not uploaded, or older ones not deleted (ConnectionError)" in capsys.readouterr().err


def test_an_uploaded_checkpoint_leaves_the_newest_k_and_the_kept_steps_in_the_store():
    model, update, replay, log = pieces(0)
    remote = Run()
    for step in (5, 6, 7, 8):
        checkpoint.save_in_run(remote, checkpoint.state(step, model, update, replay, log, {}, "r"), keep=2, also=5)
    assert sorted(remote.artifact_names("checkpoints")) == [f"step_00000000{s}.pt" for s in (5, 7, 8)]
