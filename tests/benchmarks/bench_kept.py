"""The model a reinforcement-learning run keeps (keep_model=best, the default) against the one its last step left,
over seeds (not collected by pytest).

    python tests/benchmarks/bench_kept.py    # CartPole-v1 and Pendulum-v1, seeds 0-4 (~15 min, 2 at a time)
    options: --seeds N, --envs CartPole-v1,Pendulum-v1, --parallel K

Each run is the README's command as written, `ml env=<env> seed=<seed>` (the default agent and budget), with
`threads=1` pinned (torch's thread count), in a process and a temporary MLflow store of its own, K at a time (the
figures are returns, not times). Printed per seed: the last evaluation's return, the kept model's step and its
evaluation's return (the best of the run's evaluations, on the evaluation episodes), and the kept model's return on
fresh episodes seeded apart from those (`kept/return_fresh`: the best of noisy evaluations flatters, this does not).
Targets (issue 27): CartPole-v1's kept model >= 475 on every seed, Pendulum-v1's median >= -200, both on fresh
episodes.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

TARGETS = {"CartPole-v1": ("every seed", 475.0), "Pendulum-v1": ("median", -200.0)}


def child(env_id, seed):
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    sys.stderr = open(os.devnull, "w")  # ml()'s progress lines
    from mlflow import MlflowClient

    from antelope import ml

    result = ml(env=env_id, seed=seed, threads=1)
    run = MlflowClient().get_run(result.run_id)
    history = sorted(MlflowClient().get_metric_history(result.run_id, "eval/return"), key=lambda m: m.step)
    print(
        json.dumps(
            {
                "last": history[-1].value,
                "kept_step": int(run.data.tags["antelope.kept_step"]),
                "kept": result.metrics["eval/return"],
                "fresh": result.metrics["kept/return_fresh"],
            }
        )
    )


def train(env_id, seed):
    done = subprocess.run(
        [sys.executable, __file__, "--child", env_id, str(seed)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{env_id} seed {seed} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--envs", default="CartPole-v1,Pendulum-v1")
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--child", nargs=2)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    print(f"`ml env=<env> seed=<seed> threads=1` (torch threads pinned to 1), {args.parallel} runs at a time")
    jobs = [(env_id, seed) for env_id in args.envs.split(",") for seed in range(args.seeds)]
    with ThreadPoolExecutor(args.parallel) as pool:
        results = dict(zip(jobs, pool.map(lambda job: train(*job), jobs), strict=True))
    for env_id in args.envs.split(","):
        print(f"\n{env_id}:   seed   last eval   kept (step)        kept, fresh episodes")
        rows = [results[(env_id, seed)] for seed in range(args.seeds)]
        for seed, r in enumerate(rows):
            print(f"  {seed:>14}   {r['last']:>9.1f}   {r['kept']:>6.1f} ({r['kept_step']:>6})   {r['fresh']:>8.1f}")
        fresh = [r["fresh"] for r in rows]
        kind, bar = TARGETS.get(env_id, ("median", float("-inf")))
        figure = min(fresh) if kind == "every seed" else statistics.median(fresh)
        print(
            f"  last eval median {statistics.median(r['last'] for r in rows):.1f}; kept median "
            f"{statistics.median(r['kept'] for r in rows):.1f}; fresh median {statistics.median(fresh):.1f}, min "
            f"{min(fresh):.1f}; target: {kind} >= {bar:g} on fresh episodes: {figure:.1f} "
            f"{'met' if figure >= bar else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
