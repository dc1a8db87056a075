"""How soon `ml` starts: whole commands timed against Python's own start-up, measured side by side in one run.

    python tests/benchmarks/bench_start.py              # 5 paired repeats of each command
    python tests/benchmarks/bench_start.py --repeats 3

Prints each target as `name: ours / reference = ratio (target)`, the medians of paired repeats (ours and the
reference alternate, so both see the same machine):
1. `ml train_steps=1` on Digits, tracking on, into a store that exists (migrated by a first run), against
   `python -c "import torch"`: target <= 2.0. The same with `tracking=false` is printed beside it;
2. `ml --help`, `ml runs` and `ml ui --help`, against `python -c pass`, with whether each imported torch
   (target: none does, and `ml --help` within 0.5 s);
   Beside it, the floor of that ratio for any tool: hand-written scripts of one SGD step on a linear layer, without
   MLflow and with a minimal MLflow run (a param and a metric into the same kind of SQLite store, no model);
3. in a sweep's worker process (one worker: the sweep's own process), the time from Optuna handing out a trial
   (its `datetime_start`) to the trial's first `learn` call, the median over the trials after the first
   (target <= 150 ms).
Not a test: the machines are shared and noisy, so nothing here asserts. Torch's threads are pinned to one in
every command (OMP_NUM_THREADS=1, and threads=1 for the runs), the way the default agent on Digits runs anyway.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ML = str(Path(sys.executable).parent / "ml")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ENV.pop("MLFLOW_TRACKING_URI", None)  # each command on the store in its working folder
TRIAL_STEPS = 1


# The floor of target 1: what torch and MLflow cost themselves, by hand, in the same one-step job
ONE_STEP = (
    "import torch\n"
    "model = torch.nn.Linear(64, 10)\n"
    "optimizer = torch.optim.SGD(model.parameters(), lr=0.1)  # its constructor imports torch._dynamo\n"
    "loss = torch.nn.functional.cross_entropy(model(torch.randn(32, 64)), torch.randint(10, (32,)))\n"
    "loss.backward()\n"
    "optimizer.step()\n"
)
ONE_STEP_TRACKED = (
    "import mlflow\n"
    "mlflow.set_tracking_uri('sqlite:///by-hand.db')\n"
    "with mlflow.start_run():\n"
    "    mlflow.log_param('lr', 0.1)\n"
    + "".join(f"    {line}\n" for line in ONE_STEP.splitlines())
    + "    mlflow.log_metric('train/loss', loss.item(), step=1)\n"
)


def wall(command, cwd):
    """Seconds `command` takes, start to exit; it must succeed."""
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds


def paired(ours, reference, cwd, repeats):
    """(median of ours, median of reference, median of the paired ratios), the two alternating."""
    pairs = []
    for _ in range(repeats):
        pairs.append((wall(ours, cwd), wall(reference, cwd)))
    return (
        statistics.median(p[0] for p in pairs),
        statistics.median(p[1] for p in pairs),
        statistics.median(p[0] / p[1] for p in pairs),
    )


def imports_torch(argv, cwd):
    """Whether the console command `ml <argv>` imports torch (run in a fresh process, as `ml` would)."""
    code = (
        "import sys\nfrom antelope.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "print('torch' in sys.modules, file=sys.stderr)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=ENV, capture_output=True, text=True)
    return done.stderr.strip().splitlines()[-1] == "True"


def ask_to_first_learn(cwd, trials):
    """Per trial after the first: seconds from the study handing out the trial to its first `learn` call."""
    code = f"""
import json, time
from torch import nn
from torch.nn.functional import cross_entropy
from antelope import sweep

firsts = []  # each trial's first learn call, in trial order (one worker: the trials run one after another here)

class Timed(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Sequential(nn.Flatten(), nn.Linear(in_features, out_features))
        self.started = False

    def forward(self, x):
        return self.linear(x)

    def learn(self, replay):
        if not self.started:
            firsts.append(time.time())
            self.started = True
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)

study = sweep(model=Timed, space={{"optim.lr": "interval(1e-3, 1e-1)"}}, trials={trials},
              train_steps={TRIAL_STEPS}, evaluate_per_steps=0, threads=1, sampler="random")
starts = [t.datetime_start.timestamp() for t in sorted(study.trials, key=lambda t: t.number)]
print(json.dumps([first - start for first, start in zip(firsts, starts)]))
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=ENV, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the sweep failed:\n{done.stderr[-2000:]}")
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])[1:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--trials", type=int, default=11, help="trials of the sweep in target 3")
    args = parser.parse_args()
    print(f"torch threads pinned to 1 (OMP_NUM_THREADS=1, threads=1); {args.repeats} paired repeats", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-start-") as folder:
        wall([ML, "train_steps=1", "threads=1"], folder)  # the store exists and is migrated from here on
        python = [sys.executable, "-c"]
        run = paired([ML, "train_steps=1", "threads=1"], [*python, "import torch"], folder, args.repeats)
        print(f"1. ml train_steps=1 (tracking on, existing store): {run[0]:.2f} s / import torch {run[1]:.2f} s "
              f"= {run[2]:.2f} (target 2.0)", flush=True)  # fmt: skip
        off = paired(
            [ML, "train_steps=1", "threads=1", "tracking=false"], [*python, "import torch"], folder, args.repeats
        )
        print(
            f"   ml train_steps=1 tracking=false: {off[0]:.2f} s / import torch {off[1]:.2f} s = {off[2]:.2f}",
            flush=True,
        )
        wall([*python, ONE_STEP_TRACKED], folder)  # its store exists and is migrated from here on, like ml's
        for name, script in (("no MLflow", ONE_STEP), ("an MLflow run", ONE_STEP_TRACKED)):
            floor = paired([*python, script], [*python, "import torch"], folder, args.repeats)
            print(f"   floor: one SGD step by hand, {name}: {floor[0]:.2f} s / import torch {floor[1]:.2f} s "
                  f"= {floor[2]:.2f}", flush=True)  # fmt: skip
        for argv in (["--help"], ["runs"], ["ui", "--help"]):
            ours = paired([ML, *argv], [*python, "pass"], folder, args.repeats)
            torch = "imports torch" if imports_torch(argv, folder) else "no torch"
            target = " (target 0.5 s, no torch)" if argv == ["--help"] else " (target: no torch)"
            print(f"2. ml {' '.join(argv)}: {ours[0]:.2f} s / python -c pass {ours[1]:.2f} s = {ours[2]:.1f}; "
                  f"{torch}{target}", flush=True)  # fmt: skip
        waits = ask_to_first_learn(folder, args.trials)
        low, middle, high = (f"{seconds * 1000:.0f}" for seconds in (min(waits), statistics.median(waits), max(waits)))
        print(f"3. a sweep trial, ask to first learn: median {middle} ms over {len(waits)} trials "
              f"(min {low}, max {high}) (target 150 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
