"""The default agent's quality bars, measured with real runs (not collected by pytest).

    python tests/benchmarks/bench_agents.py                    # both
    python tests/benchmarks/bench_agents.py digits             # one

- digits: the default `ml` job (AC2Agent, 1000 steps): test accuracy >= 0.95 in under 60 s.
- diabetes: scikit-learn's diabetes data as a CSV with a float target: test MSE >= 40% below
  predicting the training mean.
The default agent on CartPole and Pendulum, over seeds and against a reference: tests/benchmarks/bench_rl.py.
Each run is an MLflow run in a temporary store. Torch runs
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

from antelope import ml  # noqa: E402
from antelope.data import load  # noqa: E402


def digits():
    start = time.perf_counter()
    result = ml()
    seconds = time.perf_counter() - start
    accuracy = result.metrics["eval/accuracy"]
    print(
        f"digits: accuracy {accuracy:.4f} in {seconds:.1f} s (bar: >= 0.95 in < 60 s) "
        f"{'PASS' if accuracy >= 0.95 and seconds < 60 else 'FAIL'}"
    )


def diabetes():
    from sklearn.datasets import load_diabetes

    load_diabetes(as_frame=True).frame.to_csv("diabetes.csv", index=False)
    data = load("diabetes.csv", label_column="target")  # the same fixed split the run uses
    baseline = ((data.test.label - data.train.label.mean()) ** 2).mean().item()
    result = ml(dataset="diabetes.csv", label_column="target", evaluate_per_steps=0)
    mse = result.metrics["eval/mse"]
    print(
        f"diabetes: test MSE {mse:.0f} vs {baseline:.0f} predicting the mean: {1 - mse / baseline:.0%} better "
        f"(bar: >= 40%) {'PASS' if mse <= 0.6 * baseline else 'FAIL'}"
    )


BENCHMARKS = {
    "digits": digits,
    "diabetes": diabetes,
}

if __name__ == "__main__":
    for name in sys.argv[1:] or BENCHMARKS:
        BENCHMARKS[name]()
