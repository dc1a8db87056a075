"""The sweep machinery's overhead per trial against a hand-written Optuna + MLflow script.

    python tests/benchmarks/bench_sweep.py                 # 100 trials, 3 paired repeats
    python tests/benchmarks/bench_sweep.py --trials 20 --repeats 1

Both sides run the same trials of a trivial objective (a linear model, a few optimizer steps on Digits)
in one process, each in a fresh working directory with its own MLflow SQLite store, and do the tracking
work the sweeps issue requires:
- ours: `antelope.sweep(...)`: a parent run, a child run per trial with the full resolved config as
  params, tags, pruning reports, the best value per trial, trials.csv and plots at the end, plus what
  our runs carry besides (config.yaml, a checkpoint, the study in the journal file);
- reference: what a careful user writes by hand: an in-memory Optuna study, a parent run with the space,
  sampler and pruner as params, a child run per trial with `mlflow.parentRunId`, the same resolved
  config as params (one `log_batch`), the same tags and the same four metrics (one `log_batch`) as our
  child runs, the trained model as an MLflow Model (`mlflow.pytorch.log_model`, pickled, with an input
  example and explicit pip requirements), the train and test data as dataset inputs, MLflow's system
  metrics, the best value per trial, trials.csv and the same three plots at the end.
A third run, the reference with its study in a journal file (as ours), is printed for comparison: it
shows what durability costs. Both sides record the same run contents in MLflow, so the ratio measures the
machinery, not how much is recorded. What ours does besides (config.yaml, a checkpoint per trial, the study in
a journal file with a heartbeat, compose and validate the config) counts as ours.
Ours and the reference alternate within each repeat (both see the same load from the rest of a shared
machine); it prints the medians of each and the median of the paired ratios,
`sweep: ours / reference = R (target 1.2)`.
"""

import argparse
import functools
import os
import socket
import statistics
import sys
import tempfile
import time
import warnings

import torch
from torch import nn
from torch.nn.functional import cross_entropy

STEPS = 5


class Tiny(nn.Module):
    def __init__(self, in_features, out_features):
        super().__init__()
        self.linear = nn.Sequential(nn.Flatten(), nn.Linear(in_features, out_features))

    def forward(self, x):
        return self.linear(x)

    def learn(self, replay):
        batch = next(replay)
        return cross_entropy(self(batch.obs), batch.label)


def ours(trials):
    from antelope import sweep

    sweep(
        model=Tiny,
        space={"optim.lr": "tag(log, interval(1e-4, 1e-1))"},
        trials=trials,
        train_steps=STEPS,
        evaluate_per_steps=0,
        log_per_steps=STEPS,
        sampler="random",
        pruner="none",
    )


def reference(trials, journal=False):
    import mlflow
    import mlflow.data
    import mlflow.pytorch
    import optuna
    import pandas as pd
    from mlflow.entities import Metric, Param, RunTag
    from omegaconf import OmegaConf
    from sklearn.datasets import load_digits

    from antelope import config
    from antelope.config import overrides as lines
    from antelope.results import draw_sweep

    # the same resolved config our trials record, as a hand-written script would keep it in a dict
    resolved = OmegaConf.to_container(config.compose([f"train_steps={STEPS}"])[0], resolve=True)

    digits = load_digits()
    obs = torch.tensor(digits.data, dtype=torch.float32) / 16
    label = torch.tensor(digits.target)
    train, test = slice(0, 1437), slice(1437, None)
    client = mlflow.MlflowClient()
    experiment = client.create_experiment("reference")
    # the tags our child runs carry, so both sides store the same run contents
    run_tags = {
        "antelope.sweep": "reference-sweep",
        "antelope.worker": "0",
        "antelope.model": "bench_sweep.Tiny",
        "antelope.dataset": "Digits",
        "antelope.device": "cpu",
        "antelope.task": "classification",
        "antelope.processes": "1",
        "antelope.host": socket.gethostname(),
        "antelope.pid": str(os.getpid()),
    }
    mlflow.set_experiment(experiment_id=experiment)  # where mlflow.pytorch.log_model puts the logged models
    datasets = {
        context: mlflow.data.from_numpy(obs[part].numpy(), source="Digits", targets=label[part].numpy(), name="Digits")
        for context, part in (("train", train), ("eval", test))
    }
    requirements = [f"torch=={torch.__version__.split('+')[0]}", "cloudpickle"]
    parent = client.create_run(experiment, run_name="reference-sweep").info.run_id
    client.log_batch(
        parent,
        params=[
            Param("space.optim.lr", "tag(log, interval(1e-4, 1e-1))"),
            Param("sweep.sampler", "random"),
            Param("sweep.pruner", "none"),
        ],
    )

    def objective(trial):
        lr = trial.suggest_float("optim.lr", 1e-4, 1e-1, log=True)
        run = client.create_run(
            experiment,
            run_name=f"trial {trial.number}: optim.lr={lr:.4g}",
            tags={
                "mlflow.parentRunId": parent,
                **run_tags,
                "antelope.trial": str(trial.number),
                "antelope.overrides": f"optim.lr={lr}",
            },
        ).info.run_id
        params = lines.flatten({**resolved, "optim": {**resolved["optim"], "lr": lr}})
        client.log_batch(run, params=[Param(k, str(v)) for k, v in params.items()])
        model = Tiny(64, 10)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(trial.number)
        for _ in range(STEPS):
            index = torch.randint(0, 1437, (64,), generator=generator)
            loss = cross_entropy(model(obs[train][index]), label[train][index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            accuracy = (model(obs[test]).argmax(1) == label[test]).float().mean().item()
        now = int(time.time() * 1000)
        client.log_batch(
            run,
            metrics=[
                Metric("train/loss", loss.item(), now, STEPS),
                Metric("train/lr", lr, now, STEPS),
                Metric("train/epoch", 0, now, STEPS),
                Metric("eval/accuracy", accuracy, now, STEPS),
            ],
        )
        with mlflow.start_run(run_id=run, log_system_metrics=True):  # FINISHED when it ends
            for context, dataset in datasets.items():
                mlflow.log_input(dataset, context=context)
            mlflow.pytorch.log_model(
                model,
                name="model",
                input_example=obs[test][:5].numpy(),
                step=STEPS,
                pip_requirements=requirements,
                serialization_format="pickle",
            )
            client.log_batch(run, tags=[RunTag("antelope.trial_state", "COMPLETE")])
        return accuracy

    def best(study, trial):
        client.log_batch(
            parent, metrics=[Metric("best_value", study.best_value, int(time.time() * 1000), trial.number)]
        )

    storage = None  # in memory, as most hand-written scripts keep it
    if journal:  # what a script that can resume or share its study with other workers needs
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend("reference.journal"))
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0), storage=storage)
    study.optimize(objective, n_trials=trials, callbacks=[best])
    with tempfile.TemporaryDirectory() as folder:
        study.trials_dataframe().to_csv(os.path.join(folder, "trials.csv"), index=False)
        client.log_artifact(parent, os.path.join(folder, "trials.csv"))
        table = pd.DataFrame(
            [
                {"trial": t.number, "trial_state": t.state.name, "eval/accuracy": t.value, **t.params}
                for t in study.trials
            ]
        )
        draw_sweep(
            "reference-sweep",
            "eval/accuracy",
            "maximize",
            table,  # the same plots, drawn the same way
            {"optim.lr": "tag(log, interval(1e-4, 1e-1))"},
            os.path.join(folder, "plots"),
        )
        client.log_artifacts(parent, os.path.join(folder, "plots"), "plots")
    client.set_terminated(parent, "FINISHED")


def timed(function, trials):
    """Seconds per trial of `function(trials)`, in a fresh folder and MLflow store."""
    import mlflow

    with tempfile.TemporaryDirectory() as folder:
        os.chdir(folder)
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        mlflow.MlflowClient().search_experiments()  # the store's migrations, outside the timing
        start = time.perf_counter()
        function(trials)
        return (time.perf_counter() - start) / trials


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    torch.set_num_threads(1)  # tiny tensors: thread hand-offs would cost more than the work, on both sides
    streams, sys.stdout, sys.stderr = (sys.stdout, sys.stderr), open(os.devnull, "w"), open(os.devnull, "w")
    try:
        timed(reference, 2), timed(ours, 2)  # imports and first-call costs, outside the timing
        triples = [
            (
                timed(ours, args.trials),
                timed(reference, args.trials),
                timed(functools.partial(reference, journal=True), args.trials),
            )
            for _ in range(args.repeats)
        ]
    finally:
        sys.stdout, sys.stderr = streams
    per_trial = [statistics.median(t[i] for t in triples) * 1000 for i in range(3)]
    how = f"ms per trial ({args.trials} trials, median of {args.repeats})"
    print(f"reference: {per_trial[1]:.1f} {how}")
    print(f"reference with its study in a journal file: {per_trial[2]:.1f} {how}")
    print(f"ours: {per_trial[0]:.1f} {how}")
    print(f"ratios: {' '.join(f'{o / r:.2f}' for o, r, _ in triples)}")
    print(
        f"(for comparison, ours / reference with a journal file = "
        f"{statistics.median(o / j for o, _, j in triples):.2f})"
    )
    print(f"sweep: ours / reference = {statistics.median(o / r for o, r, _ in triples):.2f} (target 1.2)")


if __name__ == "__main__":
    main()
