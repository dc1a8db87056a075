"""antelope.environment: Gymnasium environments for reinforcement learning (action spaces, n-step transitions,
restarts), and RL runs through ml() with tiny budgets (resume, custom agents, errors). How well the agents
learn is tests/test_agents.py's."""
import os
import signal
import subprocess
import sys

import mlflow

import numpy as np
import pytest
import torch
from torch import nn

from conftest import runs

from antelope import ConfigError, ml
from antelope.agents import DQN, AC2Agent
from antelope.environment import Environment
from antelope.interrupts import Interrupted
from antelope.log import Log
from antelope.replay import ReplayBuffer


pytestmark = pytest.mark.usefixtures("one_thread")


def test_action_space_conversion():
    binned = Environment("Pendulum-v1", seed=0, discrete=True, bins=5)
    assert binned.spec.action.discrete and binned.spec.action.shape == (5,)
    assert binned._to_env(0) == pytest.approx([-2.0]) and binned._to_env(4) == pytest.approx([2.0])
    vector = Environment("CartPole-v1", seed=0, discrete=False)
    assert not vector.spec.action.discrete and vector.spec.action.shape == (2,)
    assert vector._to_env(np.array([0.3, -0.2])) == 0
    assert ml(env="Pendulum-v1", discrete=True, train_steps=50, random_steps=20, evaluate_episodes=1).metrics
    assert ml(env="CartPole-v1", discrete=False, train_steps=50, random_steps=20, evaluate_episodes=1).metrics


def test_nstep_transitions_carry_their_discount():
    env = Environment("CartPole-v1", seed=0, nstep=3, discount=0.9, random_steps=10_000)
    replay = ReplayBuffer(1000, 256, "cpu", seed=0)
    for step in range(1, 201):
        env.collect(None, replay, step, Log())
    batch = next(replay)
    assert set(batch._fields) == {"obs", "action", "reward", "next_obs", "done", "discount"}
    full = torch.isclose(batch.discount, torch.tensor(0.9 ** 3))
    assert full.any() and torch.allclose(batch.reward[full], torch.tensor(1 + 0.9 + 0.81))  # CartPole pays 1 a step
    assert all(any(abs(d - 0.9 ** k) < 1e-6 for k in (1, 2, 3)) for d in batch.discount.tolist())
    assert batch.done.sum() > 0 and replay.epoch > 0  # episodes ended, and were counted


def test_a_resumed_env_starts_a_fresh_episode_not_the_first_one_again():
    first = Environment("CartPole-v1", seed=0)._obs
    resumed, again = Environment("CartPole-v1", seed=0), Environment("CartPole-v1", seed=0)
    resumed.restart(150), again.restart(150)
    assert not np.array_equal(resumed._obs, first)  # CartPole starts at a random state drawn from the seed
    assert np.array_equal(resumed._obs, again._obs)  # and a resume at the same step is reproducible


def test_nstep_runs_learn_from_the_first_step():
    # the first step plays the nstep - 1 steps its transition needs: learn never meets an empty buffer
    result = ml(env="CartPole-v1", nstep=3, train_steps=30, random_steps=10, evaluate_episodes=1)
    assert np.isfinite(result.metrics["eval/return"])


def stops_at_150(agent):
    """`agent`, sending itself SIGINT at its 150th learn, as Ctrl-C would."""
    class StopsAt150(agent):
        calls = 0

        def learn(self, replay, log):
            StopsAt150.calls += 1
            if StopsAt150.calls == 150:
                os.kill(os.getpid(), signal.SIGINT)
            return super().learn(replay, log)
    return StopsAt150


@pytest.mark.parametrize("agent, counter", [(AC2Agent, "steps"), (DQN, "acts")])
def test_an_rl_run_resumes_as_the_same_run_and_ends_at_its_step(agent, counter):
    settings = dict(env="CartPole-v1", train_steps=300, random_steps=100, nstep=1, log_per_steps=50,
                    evaluate_per_steps=0, evaluate_episodes=2)
    with pytest.raises(Interrupted):
        ml(model=stops_at_150(agent), **settings)
    stopped = runs("CartPole-v1").iloc[0]
    assert stopped["status"] == "KILLED"

    resumed = ml(model=agent, resume=stopped["run_id"])
    client = mlflow.MlflowClient()
    run = client.get_run(stopped["run_id"])
    assert resumed.run_id == stopped["run_id"] and run.info.status == "FINISHED"
    assert run.data.tags["resume_count"] == "1"
    losses = [m.step for m in client.get_metric_history(resumed.run_id, "train/loss")]
    assert sorted(losses) == [50, 100, 150, 200, 250, 300]  # the step axis continues where it stopped
    assert [m.step for m in client.get_metric_history(resumed.run_id, "eval/return")] == [300]
    # the counters came back: the epsilon schedule counts the 200 acts after the 100 random steps, and
    # the replay buffer holds all 300 transitions (the 150 from before the stop were restored)
    assert getattr(resumed.model, counter).item() == 200
    final = torch.load(os.path.join(run.info.artifact_uri, "checkpoints", "step_000000300.pt"), weights_only=True)
    assert final["replay"]["size"] == 300 and final["replay"]["epoch"] > stopped["metrics.train/epoch"] > 0


class Greedy(nn.Module):
    """A user's own RL agent: act(obs) and learn(replay, log), nothing else."""

    def __init__(self, obs_spec, action_spec):
        super().__init__()
        self.discrete = action_spec.discrete
        self.net = nn.Linear(obs_spec.shape[0], action_spec.shape[0])
        self.optim = torch.optim.SGD(self.net.parameters(), lr=1e-3)
        self.batches = 0

    def act(self, obs):
        output = self.net(obs)
        return output.argmax(1) if self.discrete else output.tanh()

    def learn(self, replay, log):
        batch = next(replay)
        loss = (self.net(batch.obs).mean() - batch.reward.mean()) ** 2
        self.optim.zero_grad()
        loss.backward()
        self.optim.step()
        self.batches += 1
        log.loss = loss


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])
def test_a_custom_agent_runs_on_any_env(env):
    result = ml(model=Greedy, env=env, train_steps=100, random_steps=10, evaluate_episodes=1)
    assert result.model.batches == 100 and np.isfinite(result.metrics["eval/return"])


def test_env_errors_are_one_line(monkeypatch):
    with pytest.raises(ConfigError, match="did you mean 'CartPole-v1'"):
        ml(env="CartPol-v1")
    import importlib.util

    find_spec = importlib.util.find_spec  # the atari extra missing, whether or not it is installed here
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "ale_py" else find_spec(name, *args))
    with pytest.raises(ConfigError, match=r"pip install 'antelope\[atari\]'"):
        ml(env="ALE/Pong-v5")
    with pytest.raises(ConfigError, match="give train_steps"):
        ml(env="CartPole-v1", epochs=2)


def test_importing_antelope_does_not_import_gymnasium():
    code = ("import sys, antelope, antelope.ml, antelope.environment; "
            "assert not {'gymnasium', 'ale_py', 'dm_control', 'shimmy', 'mujoco'} & set(sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def _installed(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


@pytest.mark.skipif(not (_installed("ale_py") and _installed("cv2")), reason="needs the atari extra")
def test_default_agent_plays_atari():
    # frames: (4, 84, 84) uint8, through the default agent's CNN; learning Pong is far beyond a test's budget
    result = ml(env="ALE/Pong-v5", train_steps=40, random_steps=20, batch_size=4, evaluate_episodes=1)
    assert isinstance(result.model, AC2Agent) and -21 <= result.metrics["eval/return"] <= 21
    assert runs("ALE-Pong-v5")["metrics.train/loss"][0] >= 0


@pytest.mark.skipif(not (_installed("dm_control") and _installed("shimmy")), reason="needs the dmc extra")
def test_default_agent_acts_on_deepmind_control():
    result = ml(env="dm_control/cartpole-balance-v0", train_steps=200, random_steps=100, evaluate_episodes=1)
    assert isinstance(result.model, AC2Agent) and result.model.actor is not None
    assert 0 <= result.metrics["eval/return"] <= 1000  # dm_control rewards are in [0, 1] per step, 1000 steps
    table = runs("dm_control-cartpole-balance-v0")
    assert {"metrics.train/critic_loss", "metrics.train/actor_loss"} <= set(table.columns)
