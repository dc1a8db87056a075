"""What sweep.seeds buys: a sweep judged over 3 seeds per trial against one judged over 1, for the same training
budget, each pick then trained on fresh seeds (not collected by pytest).

    python tests/benchmarks/bench_seeds.py              # 12 runs per sweep, picks on 5 fresh seeds (~3 min)
    python tests/benchmarks/bench_seeds.py --env Pendulum-v1 --steps 5000    # the RL version (~23 min)
    options: --runs N (per sweep), --fresh N, --steps N, --env ID

The task is one where seeds disagree: Digits with few steps and small batches (`train_steps=150 batch_size=8`),
the default agent, its lr and its dropout swept (`optim.lr=tag(log, interval(1e-4, 0.3))`, `model.dropout=interval(0,
0.9)`), TPE seeded alike. One sweep has `sweep.seeds=1` and N trials, the other `sweep.seeds=3` and N/3 trials: N
runs each. Each sweep's best config is then trained with seeds 100.. (fresh: no sweep saw them); printed: each
pick, its value in its sweep, and its mean, std, min and max on the fresh seeds. torch's threads pinned to 1
(threads=1). If the 3-seed pick is not better on fresh seeds, the table says so. With --env, the default agent on
that env instead, its lr and its discount swept, judged by eval/return (the kept model's).
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
from contextlib import redirect_stderr, redirect_stdout


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=12)
    parser.add_argument("--fresh", type=int, default=5)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--env", help="a Gymnasium env id: the RL version")
    args = parser.parse_args()
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{tempfile.mkdtemp()}/mlflow.db"
    os.chdir(tempfile.mkdtemp())  # each sweep's journal here
    from antelope import ml, sweep

    if args.env:
        fixed = dict(env=args.env, train_steps=args.steps, threads=1, system_metrics=False)
        space = {"optim.lr": "tag(log, interval(1e-4, 1e-2))", "discount": "interval(0.9, 0.999)"}
        metric, task = "eval/return", f"{args.env}, {args.steps} steps"
    else:
        fixed = dict(dataset="Digits", train_steps=args.steps, batch_size=8, threads=1, system_metrics=False)
        space = {"optim.lr": "tag(log, interval(1e-4, 0.3))", "model.dropout": "interval(0, 0.9)"}
        metric, task = "eval/accuracy", f"Digits, {args.steps} steps, batch 8"
    print(f"{task}, threads=1; {args.runs} runs per sweep; picks on {args.fresh} fresh seeds")
    rows = []
    for seeds in (1, 3):
        with redirect_stderr(io.StringIO()), redirect_stdout(io.StringIO()):
            study = sweep(space=space, trials=args.runs // seeds, seeds=seeds, study=f"seeds-{seeds}", **fixed)
        best = study.best_trial
        picked = {key: value for key, value in best.params.items()}
        scores = []
        for seed in range(100, 100 + args.fresh):
            with redirect_stderr(io.StringIO()):
                result = ml(**fixed, seed=seed, **picked)
            scores.append(result.metrics[metric])
        rows.append((seeds, picked, best.value, scores))
        print(
            f"  sweep.seeds={seeds}: picked {', '.join(f'{k} {v:.3g}' for k, v in picked.items())} "
            f"(its sweep's value {best.value:.4f}); on fresh seeds: mean {statistics.fmean(scores):.4f}, std "
            f"{statistics.stdev(scores):.4f}, {min(scores):.4f}..{max(scores):.4f}",
            flush=True,
        )
    one, three = (statistics.fmean(row[3]) for row in rows)
    print(
        f"the 3-seed pick on fresh seeds: {three:.4f} vs the 1-seed pick's {one:.4f}: "
        + ("better" if three > one else "not better (see the spread: one sweep of each is itself one draw)")
    )


if __name__ == "__main__":
    sys.exit(main())
