"""Environment: a Gymnasium environment by id, for reinforcement learning with `ml env=<id>`.

    ml env=CartPole-v1                              # discrete actions; the env's budget (config.BUDGETS)
    ml env=Pendulum-v1                              # continuous actions
    ml env=Pendulum-v1 discrete=true                # action-space conversion: 11 bins per dimension
    ml env=CartPole-v1 envs=8 learn_per_steps=2     # 8 copies stepped together, learn every 2nd env step

One trainer step is one environment step: `collect` acts with the model (`model.act(obs)`, exploring
while the model is in train mode) and stores the transition in the run's `ReplayBuffer`, then the
trainer calls `learn` (on every `learn_per_steps`-th step). With `envs=N` the N copies step together on
every Nth trainer step, each of their N transitions counting as one step, and keep their own n-step
returns and episodes. `evaluate` plays `evaluate_episodes` episodes on environments seeded apart from
the training one, with the model in eval mode (acting greedily), and returns `eval/return`, the mean.

Atari (`ALE/Pong-v5`) needs `pip install 'antelope[atari]'`; DeepMind Control (`dm_control/cheetah-run-v0`)
needs `pip install 'antelope[dmc]'`. Gymnasium itself is imported only when an env is used.
"""

import collections
import contextlib
from math import prod

import numpy as np
import torch

from ..errors import ConfigError, TrainingError
from ..imports import did_you_mean
from .spec import Datum, Spec

EVAL_SEED_OFFSET = 1_000_000  # evaluation episodes never share a seed with training ones
FRESH_SEED_OFFSET = 2_000_000  # nor with those a kept model is evaluated on afresh (antelope.run.keeping)


class Environment:
    """`envs` copies of the env stepped together through `gymnasium.vector.SyncVectorEnv`: the model acts on
    all their observations in one call. Trainer steps still count env steps: the copies step together on
    every `envs`-th trainer step, and each of their transitions counts as one step."""

    def __init__(self, env_id, seed, discrete=None, bins=11, nstep=1, discount=0.99, random_steps=1000, envs=1):
        self.env_id, self.seed, self.bins, self.envs = env_id, seed, bins, envs
        self.nstep, self.discount, self.random_steps = nstep, discount, random_steps
        self.env = _vector(env_id, envs)
        space = self.env.single_action_space
        self.native_discrete = hasattr(space, "n")
        self.discrete = self.native_discrete if discrete is None else discrete
        if self.discrete and not self.native_discrete and prod(space.shape) > 3:
            raise ConfigError(
                f"discrete=true on {env_id}: {prod(space.shape)} action dimensions make "
                f"{bins}^{prod(space.shape)} joint actions; use discrete=false or null"
            )
        self.spec = self._spec()
        self._eval_envs = []
        self._start(seed)

    def _start(self, seed):
        self._random = np.random.default_rng(seed)
        self._obs, _ = self.env.reset(seed=seed)  # (envs, *obs_shape); copy i is seeded seed + i
        self.env.action_space.seed(seed)
        self._pending: list[collections.deque] = [
            collections.deque() for _ in range(self.envs)
        ]  # per copy: its last n steps
        self._return, self._length = np.zeros(self.envs), np.zeros(self.envs, dtype=np.int64)

    def restart(self, step):
        """A resumed run's env: a fresh episode, seeded from the run's seed and the step it resumes at (an
        env's own state cannot be saved in general; reseeding with the first seed would replay the first
        run's episodes)."""
        self._start(int(np.random.SeedSequence([self.seed, step]).generate_state(1)[0]))

    def observations(self):
        """The first copy's current observation as a batch of one, float32, as the model is given it."""
        return torch.as_tensor(np.asarray(self._obs[:1]), dtype=torch.float32)

    def _spec(self):
        obs_space, space = self.env.single_observation_space, self.env.single_action_space
        low, high = np.broadcast_to(obs_space.low, obs_space.shape), np.broadcast_to(obs_space.high, obs_space.shape)
        bounded = np.isfinite(low) & np.isfinite(high)
        # inputs scaled to about [-1, 1] where the space is bounded; left as they are where it is not
        with np.errstate(invalid="ignore", over="ignore"):  # inf bounds give nan here, replaced by np.where
            mean = np.where(bounded, (low.astype(np.float64) + high) / 2, 0.0)
            stddev = np.where(bounded, (high.astype(np.float64) - low) / 2, 1.0)
        if len(obs_space.shape) >= 3:  # (C, H, W) frames: statistics per channel
            mean, stddev = mean.reshape(len(mean), -1).mean(1), stddev.reshape(len(stddev), -1).mean(1)
        obs = Datum(
            shape=tuple(obs_space.shape),
            mean=torch.tensor(mean, dtype=torch.float32),
            stddev=torch.tensor(stddev, dtype=torch.float32).clamp(min=1e-3),
            low=float(np.min(low)),
            high=float(np.max(high)),
        )
        if self.discrete:
            n = space.n if self.native_discrete else self.bins ** prod(space.shape)
            action = Datum(shape=(n,), low=0.0, high=float(n - 1), discrete=True)
        elif self.native_discrete:  # a continuous vector, one entry per action; the env takes the argmax
            action = Datum(shape=(space.n,), low=-1.0, high=1.0)
        else:
            action = Datum(shape=tuple(space.shape), low=float(np.min(space.low)), high=float(np.max(space.high)))
        return Spec(obs=obs, action=action, num_classes=None, task="rl")

    def collect(self, model, replay, step, log):
        """The env steps of trainer step `step`: all copies step together on every `envs`-th step (uniformly
        random actions up to `random_steps`, else the model's). The first call also plays the nstep - 1
        steps before it, so that `learn` never meets an empty buffer."""
        if (step - 1) % self.envs:
            return  # this env step was taken already, by a copy at the last vector step
        if len(replay) == 0 and not any(self._pending):
            for _ in range(self.nstep - 1):
                self._step(model, replay, step, log)
        self._step(model, replay, step, log)

    def _step(self, model, replay, step, log):
        if step <= self.random_steps:
            actions = self._random_actions()
        else:
            actions = act(model, self._obs, self.spec)
        with _env_errors(self.env_id, f"at step {step}"):
            next_obs, rewards, terminated, truncated, info = self.env.step(
                np.stack([self._to_env(action) for action in actions])
            )
        ended = info.get("_final_obs", np.zeros(self.envs, dtype=bool))  # these copies were reset in this step
        for i in range(self.envs):
            after = info["final_obs"][i] if ended[i] else next_obs[i]  # the observation this step led to
            self._pending[i].append((self._obs[i], actions[i], float(rewards[i])))
            self._return[i] += float(rewards[i])
            self._length[i] += 1
            if len(self._pending[i]) == self.nstep:
                self._store(replay, i, after, terminated[i])
            if ended[i]:
                while self._pending[i]:  # the last steps' shorter n-step returns
                    self._store(replay, i, after, terminated[i])
                log(episode_return=self._return[i], episode_length=self._length[i])
                replay.epoch += 1  # an RL buffer's epoch is an episode
                self._return[i], self._length[i] = 0.0, 0
        self._obs = next_obs

    def _store(self, replay, i, next_obs, terminated):
        """Copy i's oldest pending step as an n-step transition: rewards summed with discounting up to next_obs."""
        pending = self._pending[i]
        obs, action, _ = pending[0]
        reward = sum(r * self.discount**k for k, (_, _, r) in enumerate(pending))
        replay.add(obs, action, reward, next_obs, float(terminated), self.discount ** len(pending))
        pending.popleft()

    def _random_actions(self):
        """Uniformly random actions for all copies, in the model's action space."""
        if self.discrete:
            return self._random.integers(self.spec.action.shape[0], size=self.envs)
        if self.native_discrete:
            return self._random.uniform(-1, 1, (self.envs, *self.spec.action.shape)).astype(np.float32)
        return self.env.action_space.sample().astype(np.float32)

    def _to_env(self, action):
        """One model action in the env's own action space (the conversions discrete= asks for)."""
        space = self.env.single_action_space
        if self.native_discrete:
            return int(space.start) + (int(action) if self.discrete else int(np.argmax(action)))
        if self.discrete:  # bin index -> a point on a grid of `bins` values per dimension
            index = np.unravel_index(int(action), (self.bins,) * prod(space.shape))
            grid = np.asarray(index, dtype=np.float32) / (self.bins - 1)
            return (space.low.reshape(-1) + grid * (space.high - space.low).reshape(-1)).reshape(space.shape)
        return np.clip(np.asarray(action, dtype=np.float32).reshape(space.shape), space.low, space.high)

    @torch.no_grad()
    def evaluate(self, model, episodes, fresh=False):
        """Mean return over `episodes` episodes, played in lockstep (one batched `act` per step); each evaluation
        plays the same episodes (seeded alike), `fresh` ones seeded apart from those: a kept model's own figure."""
        while len(self._eval_envs) < episodes:
            self._eval_envs.append(make(self.env_id))
        envs = self._eval_envs[:episodes]
        seed = self.seed + (FRESH_SEED_OFFSET if fresh else EVAL_SEED_OFFSET)
        obs = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
        returns, playing = [0.0] * episodes, list(range(episodes))
        model.eval()
        try:
            while playing:
                actions = act(model, np.stack([obs[i] for i in playing]), self.spec)
                still = []
                for i, action in zip(playing, actions, strict=True):
                    with _env_errors(self.env_id, "while evaluating"):
                        obs[i], reward, terminated, truncated, _ = envs[i].step(self._to_env(action))
                    returns[i] += float(reward)
                    if not (terminated or truncated):
                        still.append(i)
                playing = still
        finally:
            model.train()
        return {"eval/return": float(np.mean(returns))}


def act(model, obs, spec):
    """The model's actions for a batch of observations, as numpy: class indices for a discrete action
    space, else vectors. Uses `model.act(obs)` if the model has one, else `model(obs)` (argmax of its
    outputs for discrete actions)."""
    device = next(model.parameters(), torch.empty(0)).device
    obs = torch.as_tensor(np.asarray(obs), dtype=torch.float32, device=device)
    with torch.no_grad():
        output = model.act(obs) if hasattr(model, "act") else model(obs)
    if spec.action.discrete and output.dtype.is_floating_point:
        output = output.reshape(len(obs), -1).argmax(1)  # (B,) from (B, n) logits or values
    return output.cpu().numpy()


@contextlib.contextmanager
def _env_errors(env_id, when):
    """An exception from the env's own step(): one line that says whose it is, not a trace through ours."""
    try:
        yield
    except Exception as error:
        raise TrainingError(f"env {env_id} raised in step() {when}: {type(error).__name__}: {error}") from error


def _vector(env_id, envs):
    """`envs` copies of `make(env_id)` as one SyncVectorEnv. Same-step autoreset: a copy whose episode ends
    is reset within that step, and the step's own last observation is in info["final_obs"]."""
    import gymnasium

    first = make(env_id)  # made here, not in the vector env, so that a bad id is our one-line error
    makers = [lambda: first] + [lambda: make(env_id)] * (envs - 1)
    return gymnasium.vector.SyncVectorEnv(makers, autoreset_mode=gymnasium.vector.AutoresetMode.SAME_STEP)


def make(env_id):
    """`gymnasium.make(env_id)`, with Atari frames preprocessed to (4, 84, 84) and dict observations flattened."""
    try:
        import gymnasium
    except ImportError:
        raise ConfigError(f"env={env_id} needs gymnasium: pip install gymnasium") from None
    if env_id.startswith("ALE/"):
        _require("ale_py", env_id, "atari")
        import ale_py

        gymnasium.register_envs(ale_py)
    elif env_id.startswith("dm_control/"):
        _require("shimmy", env_id, "dmc")
        import shimmy

        gymnasium.register_envs(shimmy)
    if env_id not in gymnasium.registry:
        raise ConfigError(
            f"unknown env {env_id!r}{did_you_mean(env_id, list(gymnasium.registry))}: give a "
            f"Gymnasium id such as CartPole-v1 or Pendulum-v1"
        )
    if env_id.startswith("ALE/"):  # the standard DQN preprocessing: 84x84 grey frames, 4 stacked
        env = gymnasium.make(env_id, frameskip=1)
        env = gymnasium.wrappers.AtariPreprocessing(env, frame_skip=4, screen_size=84)
        return gymnasium.wrappers.FrameStackObservation(env, 4)
    env = gymnasium.make(env_id)
    _check_action_space(env_id, env.action_space, gymnasium)
    if not isinstance(env.observation_space, gymnasium.spaces.Box):  # Dict, Tuple, Discrete, ...: one flat vector
        try:
            flat = gymnasium.spaces.flatten_space(env.observation_space)
        except NotImplementedError:
            flat = None
        if not isinstance(flat, gymnasium.spaces.Box):  # Sequence, Graph: no fixed size
            raise ConfigError(
                f"env {env_id} has a {type(env.observation_space).__name__} observation space, which "
                f"does not flatten into a fixed-size vector: antelope takes Box, Discrete, "
                f"MultiDiscrete, MultiBinary, and Dict or Tuple spaces of those"
            )
        env = gymnasium.wrappers.FlattenObservation(env)
    shape = env.observation_space.shape or ()
    if len(shape) == 3 and shape[-1] in (1, 3, 4):
        env = gymnasium.wrappers.TransformObservation(  # (H, W, C) images -> (C, H, W), as torch expects
            env, lambda obs: np.moveaxis(obs, -1, 0), _channels_first(env.observation_space, gymnasium)
        )
    return env


def _check_action_space(env_id, space, gymnasium):
    if not isinstance(space, (gymnasium.spaces.Discrete, gymnasium.spaces.Box)):
        raise ConfigError(
            f"env {env_id} has a {type(space).__name__} action space; antelope's agents act in "
            f"a Discrete or Box action space (wrap the env to one of those)"
        )


def _channels_first(space, gymnasium):
    return gymnasium.spaces.Box(np.moveaxis(space.low, -1, 0), np.moveaxis(space.high, -1, 0), dtype=space.dtype)


def _require(module, env_id, extra):
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"env={env_id} needs the {extra} extra: pip install 'antelope[{extra}]'")
