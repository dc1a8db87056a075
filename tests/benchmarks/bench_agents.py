"""The default agent's quality bars, measured with real runs (not collected by pytest).

    python tests/benchmarks/bench_agents.py                    # all four
    python tests/benchmarks/bench_agents.py digits diabetes    # some
    python tests/benchmarks/bench_agents.py cartpole seed=1    # another seed (default 0)

- digits: the default `ml` job (AC2Agent, 1000 steps): test accuracy >= 0.95 in under 60 s.
- diabetes: scikit-learn's diabetes data as a CSV with a float target: test MSE >= 40% below
  predicting the training mean.
- cartpole: `ml env=CartPole-v1 train_steps=100000`: the last mean evaluation return >= 475.
- pendulum: `ml env=Pendulum-v1 train_steps=50000`: the last mean evaluation return >= -250.
Each run is an MLflow run in a temporary store; the evaluation history is read back from it. Torch runs
on one thread (set below): these networks are tiny, and the shared 2-core machines here are contended.
"""
import os
import sys
import tempfile
import time

import torch

torch.set_num_threads(1)
os.chdir(tempfile.mkdtemp(prefix="bench_agents_"))
os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{os.getcwd()}/mlflow.db"

from mlflow import MlflowClient  # noqa: E402

from antelope import datasets, ml  # noqa: E402


def history(result, metric):
    return [(m.step, m.value) for m in sorted(MlflowClient().get_metric_history(result.run_id, metric),
                                               key=lambda m: m.step)]


def digits():
    start = time.perf_counter()
    result = ml()
    seconds = time.perf_counter() - start
    accuracy = result.metrics["eval/accuracy"]
    print(f"digits: accuracy {accuracy:.4f} in {seconds:.1f} s (bar: >= 0.95 in < 60 s) "
          f"{'PASS' if accuracy >= 0.95 and seconds < 60 else 'FAIL'}")


def diabetes():
    from sklearn.datasets import load_diabetes

    load_diabetes(as_frame=True).frame.to_csv("diabetes.csv", index=False)
    data = datasets.load("diabetes.csv", label_column="target")  # the same fixed split the run uses
    baseline = ((data.test.label - data.train.label.mean()) ** 2).mean().item()
    result = ml(dataset="diabetes.csv", label_column="target", evaluate_per_steps=0)
    mse = result.metrics["eval/mse"]
    print(f"diabetes: test MSE {mse:.0f} vs {baseline:.0f} predicting the mean: {1 - mse / baseline:.0%} better "
          f"(bar: >= 40%) {'PASS' if mse <= 0.6 * baseline else 'FAIL'}")


def rl(env, steps, every, bar):
    start = time.perf_counter()
    result = ml(env=env, train_steps=steps, evaluate_per_steps=every, save_per_steps=steps, seed=SEED)
    seconds = time.perf_counter() - start
    returns = history(result, "eval/return")
    reached = next((step for step, value in returns if value >= bar), None)
    print(f"{env}: eval/return by env step: " + ", ".join(f"{s}: {v:.0f}" for s, v in returns))
    final = returns[-1][1]  # the bar is the run's last evaluation: no picking its best checkpoint
    print(f"{env} seed {SEED}: final {final:.1f}, best {max(v for _, v in returns):.1f}, first >= {bar} at step "
          f"{reached} ({seconds:.0f} s) (bar: final >= {bar} after {steps} steps) {'PASS' if final >= bar else 'FAIL'}")


BENCHMARKS = {
    "digits": digits,
    "diabetes": diabetes,
    "cartpole": lambda: rl("CartPole-v1", 100_000, 5000, 475),
    "pendulum": lambda: rl("Pendulum-v1", 50_000, 2500, -250),
}

SEED = int(next((a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("seed=")), 0))

if __name__ == "__main__":
    for name in [a for a in sys.argv[1:] if not a.startswith("seed=")] or BENCHMARKS:
        BENCHMARKS[name]()
