"""antelope.data.environment: Gymnasium environments for reinforcement learning (action spaces, n-step transitions,
restarts), and RL runs through ml() with tiny budgets (resume, custom agents, errors). How well the agents
learn is tests/test_agents.py's."""

import os
import signal
import subprocess
import sys

import gymnasium
import mlflow
import numpy as np
import pytest
import torch
from conftest import runs
from gymnasium import spaces
from torch import nn

from antelope import ConfigError, ml
from antelope.agents import DQN, AC2Agent
from antelope.data.environment import Environment
from antelope.data.replay import ReplayBuffer
from antelope.errors import TrainingError
from antelope.train.interrupts import Interrupted
from antelope.train.log import Log

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
    full = torch.isclose(batch.discount, torch.tensor(0.9**3))
    assert full.any() and torch.allclose(batch.reward[full], torch.tensor(1 + 0.9 + 0.81))  # CartPole pays 1 a step
    assert all(any(abs(d - 0.9**k) < 1e-6 for k in (1, 2, 3)) for d in batch.discount.tolist())
    assert batch.done.sum() > 0 and replay.epoch > 0  # episodes ended, and were counted


def test_envs_step_together_and_each_of_their_transitions_counts_as_a_step():
    env = Environment("CartPole-v1", seed=0, nstep=1, random_steps=10_000, envs=3)
    replay, sizes = ReplayBuffer(1000, 8, "cpu", seed=0), []
    for step in range(1, 31):
        env.collect(None, replay, step, Log())
        sizes.append(len(replay))
    assert sizes[:7] == [3, 3, 3, 6, 6, 6, 9] and sizes[-1] == 30  # a vector step on steps 1, 4, 7, ...


def cartpole_failed(obs):
    """Whether a CartPole observation is past the limits that terminate an episode (cart or pole)."""
    return (obs[:, 0].abs() > 2.4) | (obs[:, 2].abs() > 0.2095)


def test_each_env_keeps_its_own_nstep_returns_and_episodes():
    env = Environment("CartPole-v1", seed=0, nstep=3, discount=0.9, random_steps=10_000, envs=4)
    replay, log = ReplayBuffer(10_000, 4096, "cpu", seed=0), Log()
    for step in range(1, 301):
        env.collect(None, replay, step, log)
    data = next(replay)  # with replacement, from all stored transitions
    full = torch.isclose(data.discount, torch.tensor(0.9**3))
    assert full.any() and torch.allclose(data.reward[full], torch.tensor(1 + 0.9 + 0.81))  # never mixed across envs
    done = data.done.bool()
    # a terminal transition leads to the episode's last observation (info["final_obs"]), not the reset one
    assert done.any() and cartpole_failed(data.next_obs[done]).all()
    assert not cartpole_failed(data.next_obs[~done]).any() and not cartpole_failed(data.obs).any()
    # every env step is in exactly one episode: the logged ones and the four in progress (76 vector steps
    # after the nstep - 1 = 2 the first call plays ahead)
    lengths = log.pending()["episode_length"]
    assert len(lengths) == replay.epoch > 4 and sum(lengths) + env._length.sum() == 4 * (75 + 2)
    assert len(replay) == 4 * 77 - sum(len(pending) for pending in env._pending)


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


@pytest.mark.parametrize("agent, counter, envs", [(AC2Agent, "steps", 1), (DQN, "acts", 1), (AC2Agent, "steps", 2)])
def test_an_rl_run_resumes_as_the_same_run_and_ends_at_its_step(agent, counter, envs):
    settings = dict(
        env="CartPole-v1",
        train_steps=300,
        random_steps=100,
        nstep=1,
        log_per_steps=50,
        evaluate_per_steps=0,
        evaluate_episodes=2,
        envs=envs,
    )
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


class Tiny(gymnasium.Env):
    """An env of the given spaces whose episodes last `length` steps; `raise_at`: its step() raises then."""

    def __init__(self, observation_space, action_space=None, length=5, raise_at=None):
        self.observation_space, self.action_space = observation_space, action_space or spaces.Discrete(2)
        self.length, self.raise_at, self.t = length, raise_at, 0

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        self.t += 1
        if self.t == self.raise_at:
            raise ValueError("the simulator lost its state")
        return self.observation_space.sample(), 1.0, self.t >= self.length, False, {}


BOX = spaces.Box(-1, 1, (2,))
TINY = {  # id: constructor arguments
    "antelope-test/DictObs-v0": dict(observation_space=spaces.Dict({"position": BOX, "mode": spaces.Discrete(4)})),
    "antelope-test/TupleObs-v0": dict(observation_space=spaces.Tuple((BOX, spaces.MultiBinary(3)))),
    "antelope-test/SequenceObs-v0": dict(observation_space=spaces.Sequence(BOX)),
    "antelope-test/MultiDiscreteActions-v0": dict(observation_space=BOX, action_space=spaces.MultiDiscrete([2, 3])),
    "antelope-test/Raises-v0": dict(observation_space=BOX, length=100, raise_at=30),
}
for env_id, arguments in TINY.items():
    if env_id not in gymnasium.registry:
        gymnasium.register(env_id, entry_point=lambda arguments=arguments: Tiny(**arguments))


@pytest.mark.parametrize("env_id, size", [("antelope-test/DictObs-v0", 2 + 4), ("antelope-test/TupleObs-v0", 2 + 3)])
def test_dict_and_tuple_observations_are_flattened_into_one_vector(env_id, size):
    assert Environment(env_id, seed=0).spec.obs.shape == (size,)
    result = ml(env=env_id, train_steps=40, random_steps=10, evaluate_episodes=1)
    assert result.metrics["eval/return"] == 5.0  # every episode lasts 5 steps, paying 1 each


def test_spaces_the_agents_cannot_take_are_one_line_errors():
    with pytest.raises(
        ConfigError,
        match=r"^env antelope-test/SequenceObs-v0 has a Sequence observation space, "
        r"which does not flatten into a fixed-size vector",
    ):
        ml(env="antelope-test/SequenceObs-v0", train_steps=20)
    with pytest.raises(
        ConfigError,
        match=r"^env antelope-test/MultiDiscreteActions-v0 has a MultiDiscrete action "
        r"space; antelope's agents act in a Discrete or Box action space",
    ):
        ml(env="antelope-test/MultiDiscreteActions-v0", train_steps=20)
    assert runs().empty  # refused before any run began


@pytest.mark.parametrize("envs", [1, 3])
def test_an_env_that_raises_in_step_fails_the_run_with_one_line(envs):
    with pytest.raises(
        TrainingError,
        match=r"^env antelope-test/Raises-v0 raised in step\(\) at step \d+: "
        r"ValueError: the simulator lost its state$",
    ):
        ml(env="antelope-test/Raises-v0", train_steps=200, random_steps=100, envs=envs)
    assert list(runs("antelope-test-Raises-v0")["status"]) == ["FAILED"]


@pytest.mark.parametrize("env", ["CartPole-v1", "Pendulum-v1"])
def test_a_custom_agent_runs_on_any_env(env):
    result = ml(model=Greedy, env=env, train_steps=100, random_steps=10, evaluate_episodes=1)
    assert result.model.batches == 100 and np.isfinite(result.metrics["eval/return"])


def test_env_errors_are_one_line(monkeypatch):
    with pytest.raises(ConfigError, match="did you mean 'CartPole-v1'"):
        ml(env="CartPol-v1")
    import importlib.util

    find_spec = importlib.util.find_spec  # the atari extra missing, whether or not it is installed here
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *args: None if name == "ale_py" else find_spec(name, *args)
    )
    with pytest.raises(ConfigError, match=r"pip install 'antelope\[atari\]'"):
        ml(env="ALE/Pong-v5")
    with pytest.raises(ConfigError, match="give train_steps"):
        ml(env="CartPole-v1", epochs=2)


def test_importing_antelope_does_not_import_gymnasium():
    code = (
        "import sys, antelope, antelope.run.ml, antelope.data.environment; "
        "assert not {'gymnasium', 'ale_py', 'dm_control', 'shimmy', 'mujoco'} & set(sys.modules)"
    )
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
