"""Sweep scale, measured not assumed: ask -> child run latency and trials/s against workers, storage, trials.

How long a worker waits from asking for a trial to its child run existing, and how many trials a second a
sweep runs, against worker processes, storage and study size (not collected by pytest).

    python tests/benchmarks/bench_scale.py            # the full grid: hours on a 2-core machine
    python tests/benchmarks/bench_scale.py --quick    # a check that it works: 1 and 2 workers, 6 trials
    python tests/benchmarks/bench_scale.py --storages journal postgresql --workers 1 4 --trials 100 1000
    python tests/benchmarks/bench_scale.py --only reads --reads 100 1000 5000 20000   # a minute or two

Every configuration (a storage, a worker count, a trial count) is one `antelope.sweep(...)` call, in a
process of its own and a fresh folder, through the real workers (antelope.sweeps.workers, antelope.sweeps.trial): every
trial a child MLflow run under the sweep's parent run, the study in Optuna storage, `sweep.workers=N`
worker processes (N=1: the sweep's own process, as `ml -m` does it). The objective is the cheapest real
run: tests/models.py's Model on Digits, train_steps=1, evaluated at the end, tracking on (config.yaml, the
dataset inputs, a checkpoint, the logged model), MLflow system metrics off, one torch thread per worker
(threads=1, OMP_NUM_THREADS=1), the random sampler and no pruner (--sampler / --pruner to change: TPE's
and the median pruner's own reads of every trial are Optuna's cost, measured apart from ours this way).

Storages: `journal` (Optuna's journal file, antelope's default) or `postgresql` (a database on a throwaway
PostgreSQL server, started as tests/postgres.py starts it for the tests, with max_connections raised for 32
workers). MLflow's tracking store is a PostgreSQL database on the same server for every configuration
(a sqlite file would lock under many writers): a fresh one per configuration, as is the study's, so a
configuration never reads another's rows.

How the latency is measured, from what the real code records (no product code changed, nothing patched):
- ask: the trial's `datetime_start`, stamped by Optuna's storage when `study.ask()` in
  antelope.trial.run_trial creates the trial (RDBStorage and JournalStorage both take `datetime.now()` in
  the worker's process, in microseconds, just before they write it);
- run exists: the child run's `start_time`, stamped by MLflow's client (`time.time()` in milliseconds, in
  the same worker's process) just before it inserts the run.
Both clocks are the same host's wall clock read by the same process, so their difference is honest to
about 1 ms (MLflow's truncation to milliseconds, plus the insert itself). It covers the trial's setup in
the study (its id, heartbeat, user attributes, the drawn values), composing its config, building the model
and data, and ml.run up to creating the run. What `study.ask()` does before the storage creates the trial
(Optuna reads the study's WAITING trials) is not in it; it is in `gap`, the time from a trial's end in
the study (`datetime_complete`) to the same worker's next trial's `datetime_start`: Optuna's log line of
the told trial (it reads the best trial), what trial._end does after telling the study, the heartbeat's
end, and the work loop's reads (antelope.workers.work).
Trials per second: the trials over the wall time of the whole `sweep(...)` call (worker start-up and
the sweep's end included), and over the trials' own span (first start to last end).

Whether the cost per trial grows with the trials already in the study: the medians of the latency and of
the gap in the first and the last tenth of the trials (each worker's first trial, which pays the
process's first-call costs, left out), printed as `last / first = R (target ~1: flat)`, and, after the
sweep, each read that antelope's loop makes once per trial timed on the full study (warm, as a worker's
study is: median of several calls), beside the storage's own write of a trial (ask, tell).

The reads alone (`--reads`, after the sweeps; `--only reads` for them alone): on a study filled with
finished trials like a sweep's (the same attributes, no runs) to each of the sizes, the same reads timed
by calling antelope's own functions (studies.lost_trials, studies.trial_id, studies.owner) and the
study's as antelope calls them, a new worker's start, the sweep's end (trials.csv, the summary), and the
storage's writes of a trial: their growth to sizes the sweeps here cannot reach in minutes.
Not a test: the machines are shared and noisy, so nothing here asserts.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings

TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPACE = {"optim.lr": "tag(log, interval(1e-4, 1e-1))"}
FIXED = dict(dataset="Digits", train_steps=1, evaluate_per_steps=0, log_per_steps=1, system_metrics=False, threads=1)
EXPERIMENT = "Digits"  # config.experiment_name of FIXED: the dataset's name
REPEATS = 15  # calls per timed read or write in the probes (the median is printed)


# --- one configuration, in its own process ---------------------------------------------------------------


def child(spec):
    """Run one sweep of `spec`, then dump what the study and MLflow recorded, and the probe's timings."""
    import torch

    torch.set_num_threads(1)  # the sweep's own process is the worker when workers=1
    warnings.filterwarnings("ignore")
    sys.path.insert(0, TESTS)  # tests/models.py, importable by the spawned workers too (they get this sys.path)
    import optuna
    from mlflow import MlflowClient
    from models import Model

    from antelope import sweep

    MlflowClient().search_experiments()  # MLflow's migrations of the fresh database, outside the timing
    start = time.time()  # Optuna's logging left as `ml -m` leaves it: its line per told trial reads the best trial
    sweep(
        model=Model,
        space=SPACE,
        trials=spec["trials"],
        workers=spec["workers"],
        storage=spec["storage"],
        sampler=spec["sampler"],
        pruner=spec["pruner"],
        study=spec["study"],
        **FIXED,
    )
    wall = time.time() - start
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    trials = records(spec["study"], spec["storage"])
    calls = probe(spec["study"], spec["storage"])
    with open(spec["results"], "w") as file:
        json.dump({"wall": wall, "trials": trials, "calls": calls}, file)


def _study(name, url):
    """The study as a worker opens it (antelope.sweeps.studies: the same storage, Optuna's wrapping of it)."""
    import optuna

    from antelope.sweeps import studies

    storage = studies.open_storage(url, 2)
    return storage, studies.load(storage, name, optuna.samplers.RandomSampler(seed=0), optuna.pruners.NopPruner())


def records(name, url):
    """Per trial: its number, state, worker, its times in the study and its child run's times (seconds)."""
    from mlflow import MlflowClient

    _, study = _study(name, url)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    runs, token = {}, None
    while True:
        page = client.search_runs([experiment], f"tags.`antelope.sweep` = '{name}'", max_results=1000, page_token=token)
        for run in page:
            if "antelope.trial" in run.data.tags:  # the parent run has none
                runs[int(run.data.tags["antelope.trial"])] = run.info
        token = page.token
        if not token:
            break
    rows = []
    for t in study.get_trials(deepcopy=False):
        run = runs.get(t.number)
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "surplus": bool(t.user_attrs.get("surplus")),
                "worker": t.user_attrs.get("process"),
                "start": t.datetime_start.timestamp() if t.datetime_start else None,
                "complete": t.datetime_complete.timestamp() if t.datetime_complete else None,
                "run_start": run.start_time / 1000 if run else None,
                "run_end": run.end_time / 1000 if run and run.end_time else None,
            }
        )
    return rows


def probe(name, url):
    """Milliseconds of the reads antelope makes once per trial, on the full study, and of the storage's
    writes of a trial; the first read of a process that opens the study (a new worker's) apart."""
    from optuna.trial import TrialState

    from antelope.sweeps import studies

    start = time.perf_counter()
    storage, study = _study(name, url)  # a new worker's (antelope.workers.join)
    calls = {
        "open": (time.perf_counter() - start) * 1000,
        "first get_trials": _timed(lambda: study.get_trials(deepcopy=False), 1),
    }
    study_id, first = storage.get_study_id_from_name(name), studies.trial_id(storage, study, 0)
    calls.update(
        {
            # antelope.workers.work, once per loop: every trial, to count them and look for RUNNING ones
            "get_trials": _timed(lambda: study.get_trials(deepcopy=False)),
            # antelope.sweeps.studies.lost_trials, once per loop
            "get_trials RUNNING": _timed(lambda: study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))),
            # antelope.trial._end, once per trial
            "best_value": _timed(lambda: study.best_value),
            # antelope.trial.Trial, once per trial; antelope.studies.owner, at every evaluation and the trial's end
            "trial_id": _timed(lambda: studies.trial_id(storage, study, 0)),
            "owner": _timed(lambda: studies.owner(storage, first)),
            # every trial read on the storage itself, past Optuna's cache (a database's is not cached)
            "storage get_all_trials": _timed(lambda: storage.get_all_trials(study_id, deepcopy=False), 3),
            # Optuna's count of them (on a database, the storage base class's len(get_all_trials))
            "storage get_n_trials": _timed(lambda: storage.get_n_trials(study_id), 3),
            # antelope.report.finish, once per sweep (trials.csv)
            "trials_dataframe": _timed(lambda: study.trials_dataframe(), 1),
        }
    )
    calls.update(_writes(study))
    return calls


# --- the reads of a sweep against the size of its study, without runs ------------------------------------


def _like_a_sweeps(number):
    """A finished trial as a sweep's trial leaves it in the study: its drawn value, the attributes antelope
    writes (process, overrides, run id), a heartbeat, a reported value, its objective."""
    import optuna

    value = (number * 7919 % 1000) / 1000
    return optuna.trial.create_trial(
        value=value,
        params={"optim.lr": 1e-3},
        intermediate_values={1: value},
        distributions={"optim.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True)},
        user_attrs={
            "process": f"host:{1000 + number % 4}",
            "overrides": ["optim.lr=0.001"],
            "mlflow_run_id": uuid.uuid4().hex,
        },
        system_attrs={"antelope.heartbeat": time.time()},
    )


def reads(server, storage_kind, sizes):
    """Per study size: milliseconds of each read that antelope (and Optuna's ask) makes once per trial, on a
    worker's warm study; a new worker's start; the sweep's end; and the storage's own writes of a trial."""
    import optuna
    from optuna.trial import TrialState

    from antelope.sweeps import studies
    from antelope.sweeps.report import summary

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    folder = tempfile.mkdtemp(prefix="antelope-scale-reads-")
    try:
        url = (
            server.database(f"reads_{uuid.uuid4().hex[:6]}")
            if storage_kind == "postgresql"
            else os.path.join(folder, "optuna.journal")
        )
        storage = studies.open_storage(url, 2)
        study, _ = studies.create_or_load(
            storage, "reads", "maximize", optuna.samplers.RandomSampler(seed=0), optuna.pruners.NopPruner()
        )
        study_id, rows = storage.get_study_id_from_name("reads"), []
        for size in sizes:
            present = len(study.get_trials(deepcopy=False))
            study.add_trials([_like_a_sweeps(n) for n in range(present, size)])
            study.get_trials(deepcopy=False)  # warm, as a worker's study is after its first loop
            last = studies.trial_id(storage, study, size - 1)
            start = time.perf_counter()
            fresh = studies.open_storage(url, 2)  # a new worker, as antelope.workers.join starts one
            studies.load(fresh, "reads", None, optuna.pruners.NopPruner()).get_trials(deepcopy=False)
            row = {"storage": storage_kind, "trials": size, "worker start": (time.perf_counter() - start) * 1000}
            row.update(
                {
                    "lost_trials": _timed(
                        lambda: studies.lost_trials(study.get_trials(deepcopy=False), 30)  # workers.work, on its read
                    ),
                    "get_trials": _timed(lambda: study.get_trials(deepcopy=False)),  # workers.work
                    "best_value": _timed(lambda: study.best_value),  # trial._end
                    "ask's WAITING read": _timed(
                        lambda: study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
                    ),
                    "trial_id": _timed(lambda size=size: studies.trial_id(storage, study, size - 1)),  # trial.Trial
                    "owner": _timed(lambda last=last: studies.owner(storage, last)),  # trial.Trial.stop, trial._end
                    # a candidate fix: the RUNNING trials read by the storage's own filter (a database's WHERE)
                    "RUNNING from storage": _timed(
                        lambda: storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
                    ),
                }
            )
            start = time.perf_counter()  # report.finish and report.summary, once per sweep
            study.trials_dataframe()
            summary(study)
            row["sweep's end"] = (time.perf_counter() - start) * 1000
            row.update(_writes(study))
            print(
                f"{storage_kind}, {size} trials, ms: {', '.join(f'{k} {v:.2f}' for k, v in list(row.items())[2:])}",
                flush=True,
            )
            rows.append(row)
        return rows
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _writes(study):
    """The median milliseconds of the storage's own writes of a trial, as run_trial and trial._end make
    them: `study.ask()` (Optuna's read of WAITING trials, then the storage creates the trial) and
    `study.tell()`. The trials it adds are failed surplus ones, as a worker's that found the study full."""
    from optuna.trial import TrialState

    asks, tells = [], []
    for _ in range(REPEATS):
        start = time.perf_counter()
        trial = study.ask()
        asks.append((time.perf_counter() - start) * 1000)
        trial.set_user_attr("surplus", True)
        start = time.perf_counter()
        study.tell(trial, state=TrialState.FAIL)
        tells.append((time.perf_counter() - start) * 1000)
    return {"ask": statistics.median(asks), "tell": statistics.median(tells)}


def _timed(call, repeats=REPEATS):
    """The median milliseconds of `repeats` calls."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# --- the grid, from the parent process -------------------------------------------------------------------


def start_postgres(connections):
    """A throwaway PostgreSQL server as the tests start one (tests/postgres.py), its max_connections raised:
    every worker holds connections to MLflow's database and to the study's."""
    import psycopg

    sys.path.insert(0, TESTS)
    import postgres

    server = postgres.Server()
    try:
        with psycopg.connect(
            f"host=127.0.0.1 port={server.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f"ALTER SYSTEM SET max_connections = {connections}")
        done = postgres._as_postgres(
            "pg_ctl", "-D", server.data, "-w", "-m", "fast", "-l", os.path.join(server.folder, "log"), "restart"
        )  # the setting needs a restart
        assert done.returncode == 0, done.stderr
    except BaseException:
        server.stop()
        raise
    return server


def measure(server, storage, workers, trials, args):
    """One configuration in a child process; its raw records, or None when it failed (its log's end printed)."""
    tag = f"{storage[:2]}{workers}w{trials}t_{uuid.uuid4().hex[:6]}"
    folder = tempfile.mkdtemp(prefix=f"antelope-scale-{tag}-")
    try:
        url = server.database(f"optuna_{tag}") if storage == "postgresql" else os.path.join(folder, "optuna.journal")
        spec = {
            "storage": url,
            "workers": workers,
            "trials": trials,
            "sampler": args.sampler,
            "pruner": args.pruner,
            "study": f"scale-{tag}",
            "results": os.path.join(folder, "results.json"),
        }
        env = {
            **os.environ,
            "MLFLOW_TRACKING_URI": server.database(f"mlflow_{tag}"),
            "OMP_NUM_THREADS": "1",
            "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
            "ANTELOPE_DATA": os.path.join(folder, "datasets"),
        }
        log = os.path.join(folder, "log")
        with open(log, "w") as out:
            done = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)],
                cwd=folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            with open(log) as file:
                print(
                    f"{storage} {workers} workers {trials} trials FAILED (exit {done.returncode}):\n"
                    + "".join(file.readlines()[-30:]),
                    flush=True,
                )
            return None
        with open(spec["results"]) as file:
            return json.load(file)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _median(values):
    return statistics.median(values) if values else float("nan")


def _p95(values):
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else _median(values)


def _tenths(rows, key):
    """Medians of `key` over each tenth of the trials by number (each worker's first trial left out)."""
    rows = [r for r in rows if not r["first"]]
    size = max(1, len(rows) // 10)
    return [_median([r[key] for r in rows[i * size : (i + 1) * size]]) for i in range(min(10, len(rows) // size))]


def summarize(storage, workers, trials, result):
    """The configuration's row (throughput, ask -> run latency, the gap between trials), the latency's and
    the gap's medians by tenth of the trials, and the probe's timings."""
    rows = [r for r in result["trials"] if not r["surplus"] and r["run_start"] is not None]
    rows.sort(key=lambda r: r["number"])
    seen, previous = set(), {}
    for r in sorted(rows, key=lambda r: r["start"]):  # each worker's trials in order: the gap since its last one
        r["first"] = r["worker"] not in seen
        seen.add(r["worker"])
        before = previous.get(r["worker"])
        r["gap"] = (r["start"] - before["complete"]) * 1000 if before is not None and before["complete"] else None
        previous[r["worker"]] = r
        r["latency"] = (r["run_start"] - r["start"]) * 1000
        r["trial"] = (r["complete"] - r["start"]) * 1000 if r["complete"] else None
    latency = [r["latency"] for r in rows]
    gaps = [r for r in rows if r["gap"] is not None]
    span = max(r["complete"] or r["start"] for r in rows) - min(r["start"] for r in rows)
    tenths = {"ask->run": _tenths(rows, "latency"), "gap": _tenths(gaps, "gap")}
    row = {
        "storage": storage,
        "workers": workers,
        "trials": trials,
        "runs": len(rows),
        "wall s": result["wall"],
        "trials/s": trials / result["wall"],
        "trials/s span": len(rows) / span,
        "ask->run p50 ms": _median(latency),
        "ask->run p95 ms": _p95(latency),
        "ask->run p95 steady ms": _p95([r["latency"] for r in rows if not r["first"]]),
        "trial p50 ms": _median([r["trial"] for r in rows if r["trial"] is not None]),
        "gap p50 ms": _median([r["gap"] for r in gaps]),
        **{f"{name} first/last tenth ms": f"{v[0]:.0f}/{v[-1]:.0f}" if v else "-" for name, v in tenths.items()},
    }
    calls = {"storage": storage, "workers": workers, "trials": trials, **result["calls"]}
    return row, tenths, calls


def report(row, tenths, calls):
    """The configuration's lines, printed as soon as it is measured."""
    print(
        f"{row['storage']}, {row['workers']} workers, {row['trials']} trials: {row['trials/s']:.2f} trials/s "
        f"({row['trials/s span']:.2f} over the trials' span, {row['wall s']:.0f} s in all); ask->run p50 "
        f"{row['ask->run p50 ms']:.0f} ms p95 {row['ask->run p95 ms']:.0f} ms ({row['ask->run p95 steady ms']:.0f} "
        f"without each worker's first trial); whole trial p50 {row['trial p50 ms']:.0f} ms; gap between a "
        f"worker's trials p50 {row['gap p50 ms']:.0f} ms",
        flush=True,
    )
    for name, values in tenths.items():
        if values:
            print(f"  {name} by tenth of the trials, ms: {' '.join(f'{v:.0f}' for v in values)}", flush=True)
    timings = ", ".join(f"{k} {v:.2f}" for k, v in list(calls.items())[3:])
    print(f"  on the full study after the sweep, ms: {timings}", flush=True)
    for name, values in tenths.items():
        if len(values) > 1:
            print(f"  {name} growth: last / first tenth = {values[-1] / values[0]:.2f} (target ~1: flat)", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storages", nargs="+", default=["journal", "postgresql"], choices=["journal", "postgresql"])
    parser.add_argument("--workers", nargs="+", type=int, help="worker processes (default 1 4 16 32)")
    parser.add_argument("--trials", nargs="+", type=int, help="trials per sweep (default 100 1000 5000)")
    parser.add_argument("--sampler", default="random")
    parser.add_argument("--pruner", default="none")
    parser.add_argument(
        "--reads",
        nargs="*",
        type=int,
        help="study sizes for the reads' costs without runs (default 100 1000 5000; none: skip them)",
    )
    parser.add_argument("--only", choices=["sweeps", "reads"])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a check that it works: by default 1 and 2 workers, 6 trials; reads at 10 and 100",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    args.workers = args.workers or ([1, 2] if args.quick else [1, 4, 16, 32])
    args.trials = args.trials or ([6] if args.quick else [100, 1000, 5000])
    if args.reads is None:
        args.reads = [10, 100] if args.quick else [100, 1000, 5000]
    if args.only == "reads":
        args.trials = []
    if args.only == "sweeps":
        args.reads = []
    import pandas as pd

    print(
        f"machine: {os.cpu_count()} CPU cores; one torch thread per worker; sampler {args.sampler}, pruner "
        f"{args.pruner}; MLflow on PostgreSQL",
        flush=True,
    )
    server = start_postgres(connections=100 + 8 * max(args.workers))
    rows, calls, read = [], [], []
    try:
        for trials in args.trials:
            for workers in args.workers:
                for storage in args.storages:
                    result = measure(server, storage, workers, trials, args)
                    if result is not None and any(r["run_start"] for r in result["trials"]):
                        row, tenths, called = summarize(storage, workers, trials, result)
                        report(row, tenths, called)
                        rows.append(row)
                        calls.append(called)
        if args.reads:
            print(
                "\nthe reads of a sweep against its study's size, on studies filled with finished trials like a "
                "sweep's (no runs):",
                flush=True,
            )
        for storage in args.storages if args.reads else []:
            read += reads(server, storage, sorted(args.reads))
    finally:
        server.stop()
    if rows:
        print("\n" + pd.DataFrame(rows).to_string(index=False, float_format="%.2f"))
        print(
            "\nreads and writes on the full study after its sweep, ms (median of "
            f"{REPEATS} calls; storage get_all_trials and get_n_trials: 3; open, first get_trials and "
            "trials_dataframe: one):"
        )
        print(pd.DataFrame(calls).to_string(index=False, float_format="%.2f"))
    if read:
        print(
            f"\nreads and writes against the study's size, ms (median of {REPEATS} calls; worker start and "
            "sweep's end: one):"
        )
        print(pd.DataFrame(read).to_string(index=False, float_format="%.2f"))


if __name__ == "__main__":
    main()
