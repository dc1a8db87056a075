"""Reinforcement learning against a cleanrl-style reference, measured in one run (not collected by pytest).

    python tests/benchmarks/bench_rl.py             # CartPole-v1 and Pendulum-v1, 5 seeds, quiet and busy (~80 min)
    python tests/benchmarks/bench_rl.py --quick     # a check that it runs: tiny budgets, one seed, quiet only
    python tests/benchmarks/bench_rl.py --defaults  # the measurement behind the envs= and learn_per_steps= defaults
    options: --seeds N, --envs CartPole-v1,Pendulum-v1, --conditions quiet,busy

Ours is the README's command as written, `ml env=CartPole-v1` / `ml env=Pendulum-v1` (the default agent, the
env's default budget, tracking on, threads chosen by the run). The references are written here by hand, in
cleanrl's single-file style:
- CartPole-v1: cleanrl's dqn.py with its published CartPole hyperparameters (500k steps, lr 2.5e-4, buffer
  10k, batch 128, hard target update every 500 steps, epsilon 1 -> 0.05 over half the steps, learning from
  step 10k, every 10 steps; a 120-84 MLP).
- Pendulum-v1: cleanrl's td3_continuous_action.py with its defaults (lr 3e-4, batch 256, tau 0.005, policy
  noise 0.2 clipped at 0.5, exploration noise 0.1, actor every 2 critic updates, 256-256 MLPs), except the
  two that are sized for MuJoCo's million steps: it learns from step 1000 (not 25k) for as many env steps
  as ours (cleanrl publishes no Pendulum settings).
Both sides run on one torch thread (ours chooses it, printed; the reference sets it), evaluate with the same
protocol (10 episodes, greedy, seeds apart from training) and count wall-clock from the start of training,
evaluations included: ours evaluates every 500 env steps (its default), the reference every 10,000 on
CartPole (2.5% of its budget) and every 1,000 on Pendulum. Each training runs in a process of its own, one
at a time, ours and the reference alternating seed by seed. The whole comparison runs twice: on a quiet
machine, and with one busy-loop process occupying another core ("busy"), for both sides alike.

Printed per env and condition: env steps per second, wall-clock seconds to the first evaluation at the bar
(median over seeds; a seed that never gets there counts as never), the final evaluation's median and its
min..max, and the targets: ours' median time to 475 on CartPole <= 0.5x the reference's, and ours' final
median >= the reference's on both envs.
"""

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BARS = {"CartPole-v1": 475.0, "Pendulum-v1": -250.0}
REFERENCE = {"CartPole-v1": "dqn", "Pendulum-v1": "td3"}
EVAL_EPISODES = 10
EVAL_SEED_OFFSET = 1_000_000  # as antelope.data.environment: evaluation episodes never share a seed with training


# --- the references, cleanrl-style -------------------------------------------------------------------------


def evaluate(env_id, policy, seed):
    """Mean return of EVAL_EPISODES greedy episodes, one after another (as cleanrl's evals)."""
    import gymnasium as gym

    env, total = gym.make(env_id), 0.0
    for episode in range(EVAL_EPISODES):
        obs, _ = env.reset(seed=seed + EVAL_SEED_OFFSET + episode)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
    return total / EVAL_EPISODES


def dqn(env_id, seed, total_timesteps=500_000, evaluate_every=10_000):
    import gymnasium as gym
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    learning_rate, buffer_size, gamma, tau, target_network_frequency = 2.5e-4, 10_000, 0.99, 1.0, 500
    batch_size, start_e, end_e, exploration_fraction, learning_starts, train_frequency = 128, 1, 0.05, 0.5, 10_000, 10
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
    env = gym.make(env_id)
    env.action_space.seed(seed)
    n_obs, n_actions = env.observation_space.shape[0], env.action_space.n

    def network():
        return nn.Sequential(nn.Linear(n_obs, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, n_actions))

    q_network, target_network = network(), network()
    target_network.load_state_dict(q_network.state_dict())
    optimizer = torch.optim.Adam(q_network.parameters(), lr=learning_rate)
    observations = np.zeros((buffer_size, n_obs), np.float32)
    next_observations = np.zeros((buffer_size, n_obs), np.float32)
    actions, rewards, dones = (
        np.zeros(buffer_size, np.int64),
        np.zeros(buffer_size, np.float32),
        np.zeros(buffer_size, np.float32),
    )

    def greedy(obs):
        with torch.no_grad():
            return int(q_network(torch.as_tensor(obs, dtype=torch.float32)[None]).argmax(1).item())

    evals, start = [], time.perf_counter()
    obs, _ = env.reset(seed=seed)
    for global_step in range(1, total_timesteps + 1):
        slope = (end_e - start_e) / (exploration_fraction * total_timesteps)
        epsilon = max(slope * global_step + start_e, end_e)
        action = env.action_space.sample() if random.random() < epsilon else greedy(obs)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = (global_step - 1) % buffer_size
        observations[i], next_observations[i], actions[i], rewards[i], dones[i] = (
            obs,
            next_obs,
            action,
            reward,
            terminated,
        )
        obs = env.reset()[0] if terminated or truncated else next_obs
        if global_step > learning_starts and global_step % train_frequency == 0:
            index = np.random.randint(0, min(global_step, buffer_size), batch_size)
            with torch.no_grad():
                target_max, _ = target_network(torch.from_numpy(next_observations[index])).max(dim=1)
                td_target = torch.from_numpy(rewards[index]) + gamma * target_max * (1 - torch.from_numpy(dones[index]))
            old_val = (
                q_network(torch.from_numpy(observations[index]))
                .gather(1, torch.from_numpy(actions[index])[:, None])
                .squeeze()
            )
            loss = F.mse_loss(td_target, old_val)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if global_step % target_network_frequency == 0:
                for target_param, q_param in zip(target_network.parameters(), q_network.parameters(), strict=True):
                    target_param.data.copy_(tau * q_param.data + (1.0 - tau) * target_param.data)
        if global_step % evaluate_every == 0:
            evals.append((global_step, time.perf_counter() - start, evaluate(env_id, greedy, seed)))
    return {"seconds": time.perf_counter() - start, "steps": total_timesteps, "evals": evals}


def td3(env_id, seed, total_timesteps=20_000, evaluate_every=1000):
    import gymnasium as gym
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    learning_rate, gamma, tau, batch_size = 3e-4, 0.99, 0.005, 256
    policy_noise, exploration_noise, learning_starts, policy_frequency, noise_clip = 0.2, 0.1, 1000, 2, 0.5
    random.seed(seed), np.random.seed(seed), torch.manual_seed(seed)
    env = gym.make(env_id)
    env.action_space.seed(seed)
    n_obs, n_act = env.observation_space.shape[0], env.action_space.shape[0]
    action_scale = torch.tensor((env.action_space.high - env.action_space.low) / 2.0, dtype=torch.float32)
    action_bias = torch.tensor((env.action_space.high + env.action_space.low) / 2.0, dtype=torch.float32)

    def q_network():
        return nn.Sequential(
            nn.Linear(n_obs + n_act, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 1)
        )

    class Actor(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(n_obs, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, n_act), nn.Tanh()
            )

        def forward(self, x):
            return self.net(x) * action_scale + action_bias

    actor, qf1, qf2 = Actor(), q_network(), q_network()
    target_actor, qf1_target, qf2_target = Actor(), q_network(), q_network()
    target_actor.load_state_dict(actor.state_dict())
    qf1_target.load_state_dict(qf1.state_dict())
    qf2_target.load_state_dict(qf2.state_dict())
    q_optimizer = torch.optim.Adam(list(qf1.parameters()) + list(qf2.parameters()), lr=learning_rate)
    actor_optimizer = torch.optim.Adam(actor.parameters(), lr=learning_rate)
    size = total_timesteps
    observations, next_observations = np.zeros((size, n_obs), np.float32), np.zeros((size, n_obs), np.float32)
    actions, rewards, dones = (
        np.zeros((size, n_act), np.float32),
        np.zeros(size, np.float32),
        np.zeros(size, np.float32),
    )

    def greedy(obs):
        with torch.no_grad():
            return actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()

    evals, start = [], time.perf_counter()
    obs, _ = env.reset(seed=seed)
    low, high = env.action_space.low, env.action_space.high
    for global_step in range(1, total_timesteps + 1):
        if global_step <= learning_starts:
            action = env.action_space.sample()
        else:
            with torch.no_grad():
                action = actor(torch.as_tensor(obs, dtype=torch.float32)[None])[0]
                action = (action + torch.normal(0, action_scale * exploration_noise)).numpy().clip(low, high)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = global_step - 1
        observations[i], next_observations[i], actions[i], rewards[i], dones[i] = (
            obs,
            next_obs,
            action,
            reward,
            terminated,
        )
        obs = env.reset()[0] if terminated or truncated else next_obs
        if global_step > learning_starts:
            index = np.random.randint(0, global_step, batch_size)
            b_obs, b_next = torch.from_numpy(observations[index]), torch.from_numpy(next_observations[index])
            b_act, b_rew, b_done = (
                torch.from_numpy(actions[index]),
                torch.from_numpy(rewards[index]),
                torch.from_numpy(dones[index]),
            )
            with torch.no_grad():
                clipped_noise = (torch.randn_like(b_act) * policy_noise).clamp(-noise_clip, noise_clip) * action_scale
                next_actions = (target_actor(b_next) + clipped_noise).clamp(torch.as_tensor(low), torch.as_tensor(high))
                joined = torch.cat([b_next, next_actions], 1)
                min_target = torch.min(qf1_target(joined), qf2_target(joined)).view(-1)
                next_q_value = b_rew + (1 - b_done) * gamma * min_target
            joined = torch.cat([b_obs, b_act], 1)
            qf_loss = F.mse_loss(qf1(joined).view(-1), next_q_value) + F.mse_loss(qf2(joined).view(-1), next_q_value)
            q_optimizer.zero_grad()
            qf_loss.backward()
            q_optimizer.step()
            if global_step % policy_frequency == 0:
                actor_loss = -qf1(torch.cat([b_obs, actor(b_obs)], 1)).mean()
                actor_optimizer.zero_grad()
                actor_loss.backward()
                actor_optimizer.step()
                for net, target in ((actor, target_actor), (qf1, qf1_target), (qf2, qf2_target)):
                    for param, target_param in zip(net.parameters(), target.parameters(), strict=True):
                        target_param.data.copy_(tau * param.data + (1 - tau) * target_param.data)
        if global_step % evaluate_every == 0:
            evals.append((global_step, time.perf_counter() - start, evaluate(env_id, greedy, seed)))
    return {"seconds": time.perf_counter() - start, "steps": total_timesteps, "evals": evals}


# --- ours ----------------------------------------------------------------------------------------------------


def ours(env_id, seed, **overrides):
    """`ml env=<env_id> seed=<seed>` (as the README runs it), in a temporary MLflow store; the evaluations'
    times are read back from their MLflow timestamps."""
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    from mlflow import MlflowClient

    from antelope import ml

    start = time.time()
    result = ml(env=env_id, seed=seed, **overrides)
    seconds = time.time() - start
    history = sorted(MlflowClient().get_metric_history(result.run_id, "eval/return"), key=lambda m: m.step)
    return {
        "seconds": seconds,
        "steps": result.config["train_steps"],
        "threads": result.config["threads"],
        "evals": [(m.step, m.timestamp / 1000 - start, m.value) for m in history],
    }


def child(kind, env_id, seed, overrides):
    sys.stderr = open(os.devnull, "w")  # ml()'s progress lines
    if kind == "ours":
        result = ours(env_id, seed, **overrides)
    else:
        import torch

        torch.set_num_threads(1)
        result = {"dqn": dqn, "td3": td3}[kind](env_id, seed, **overrides)
        result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


def train(kind, env_id, seed, overrides=None):
    """One training in a process of its own; its result."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, env_id, str(seed), json.dumps(overrides or {})],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{kind} {env_id} seed {seed} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the comparison ------------------------------------------------------------------------------------------


def summary(results, bar):
    """(steps/s, median seconds to the bar (inf: never, for over half the seeds), reached count, final
    median, final min, final max) over seeds."""
    rates = [r["steps"] / r["seconds"] for r in results]
    reached = [next((seconds for _, seconds, value in r["evals"] if value >= bar), float("inf")) for r in results]
    finals = [r["evals"][-1][2] for r in results]
    return (
        statistics.median(rates),
        statistics.median(reached),
        sum(np.isfinite(reached)),
        statistics.median(finals),
        min(finals),
        max(finals),
        finals,
    )


def row(name, s, seeds):
    return (
        f"  {name:<10} {s[0]:>8.0f} steps/s   to bar: {s[1]:>7.1f} s ({s[2]}/{seeds} seeds)   "
        f"final: median {s[3]:>7.1f}  [{s[4]:.1f} .. {s[5]:.1f}]  per seed: {' '.join(f'{v:.0f}' for v in s[6])}"
    )


def compare(env_id, seeds, quick):
    bar = BARS[env_id]
    from antelope import config

    ours_overrides = {"train_steps": 2000} if quick else {}
    if env_id == "CartPole-v1":  # its published budget
        reference_overrides = {"total_timesteps": 20_000, "evaluate_every": 5000} if quick else {}
    else:  # as many env steps as ours
        reference_overrides = {"total_timesteps": 2000 if quick else config.BUDGETS[env_id]}
    mine, theirs = [], []
    for seed in range(seeds):
        mine.append(train("ours", env_id, seed, ours_overrides))
        theirs.append(train(REFERENCE[env_id], env_id, seed, reference_overrides))
    ours_summary, reference_summary = summary(mine, bar), summary(theirs, bar)
    print(
        f"{env_id} (bar {bar:g}; threads: ours {mine[0]['threads']}, reference {theirs[0]['threads']}; "
        f"env steps: ours {mine[0]['steps']}, reference {theirs[0]['steps']})"
    )
    print(row("ours", ours_summary, seeds))
    print(row(REFERENCE[env_id], reference_summary, seeds))
    ratio = ours_summary[1] / reference_summary[1] if np.isfinite(reference_summary[1]) else float("nan")
    if env_id == "CartPole-v1":
        print(f"  time to {bar:g}: ours / reference = {ratio:.3f} (target <= 0.5) {'PASS' if ratio <= 0.5 else 'FAIL'}")
    else:
        print(f"  time to {bar:g}: ours / reference = {ratio:.3f}")
    print(
        f"  final median: ours {ours_summary[3]:.1f} vs reference {reference_summary[3]:.1f} (target >=) "
        f"{'PASS' if ours_summary[3] >= reference_summary[3] else 'FAIL'}",
        flush=True,
    )


def defaults(env_ids, seeds):
    """Our default agent under each (envs, learn_per_steps) pair: the measurement the defaults were chosen by."""
    for env_id in env_ids:
        print(f"{env_id} (bar {BARS[env_id]:g}), {seeds} seeds, quiet machine:", flush=True)
        for envs, learn_per_steps in ((1, 1), (4, 1), (1, 2)):
            results = [
                train("ours", env_id, seed, {"envs": envs, "learn_per_steps": learn_per_steps}) for seed in range(seeds)
            ]
            print(
                row(f"envs={envs} learn_per_steps={learn_per_steps}", summary(results, BARS[env_id]), seeds), flush=True
            )


def busy_loop():
    """A process that keeps one core busy: the 'busy' condition."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    if "--child" in sys.argv:
        kind, env_id, seed, overrides = sys.argv[sys.argv.index("--child") + 1 :][:4]
        return child(kind, env_id, int(seed), json.loads(overrides))
    quick = "--quick" in sys.argv
    seeds = int(option("--seeds", 1 if quick else 5))
    print(f"machine: {os.cpu_count()} CPU cores; torch on one thread on both sides", flush=True)
    envs = option("--envs", ",".join(BARS)).split(",")
    if "--defaults" in sys.argv:
        return defaults(envs, int(option("--seeds", 3)))
    for condition in option("--conditions", "quiet" if quick else "quiet,busy").split(","):
        print(f"\n== {condition} machine" + (" (one busy-loop process on another core)" if condition == "busy" else ""))
        loop = busy_loop() if condition == "busy" else None
        try:
            for env_id in envs:
                compare(env_id, seeds, quick)
        finally:
            if loop is not None:
                loop.kill()
                loop.wait()


if __name__ == "__main__":
    main()
