"""Sweep workers: processes that each run trials of one study until it has all its trials.

A worker starts its next trial as soon as its last one ends (no batch barrier), takes over a trial whose
worker was lost before starting a new one, and with nothing left to start waits while others' trials
run (one may yet lose its worker), so the study ends with exactly `sweep.trials` trials. On a machine
with GPUs each worker process is pinned to one, round-robin.
"""
import os
import time

from . import studies, tracking
from .trial import run_trial


def work(study, storage, plan, tags):
    """Run trials in this process until the study has plan.trials (counting every process's and machine's)."""
    from optuna.trial import TrialState

    # Runs left RUNNING by dead processes of this host, closed once here rather than by every trial's run
    tracking.close_stale_runs(tracking.experiment_id_of(plan.experiment))
    while True:
        trials = study.get_trials(deepcopy=False)  # one read of the study per trial this worker starts
        lost, why = studies.claim_lost_trial(study, storage, plan.heartbeat, trials)
        if lost is not None:
            run_trial(study, storage, plan, tags, lost, why)
        elif len(trials) - plan.warm_trials < plan.trials or any(t.state == TrialState.WAITING for t in trials):
            run_trial(study, storage, plan, tags)  # a new trial, or the next of those sweep.enqueue queued
        elif any(t.state == TrialState.RUNNING for t in trials):
            time.sleep(min(plan.heartbeat, 2))  # trials run elsewhere: one may yet lose its worker
        else:
            return


def devices():
    """The GPUs workers are pinned to, round-robin: CUDA_VISIBLE_DEVICES's list, else every GPU."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []


def run_workers(plan, count):
    """`count` processes (not threads: trials are CPU/GPU-bound), each running trials on the shared study;
    returns {worker: the device it was pinned to, or None}."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pinned = devices()
    assignment = {worker: pinned[worker % len(pinned)] if pinned else None for worker in range(count)}
    tracking.set_tags(plan.parent_run_id, {"antelope.workers": " ".join(  # e.g. '0:cuda0 1:cuda1'
        f"{w}:cuda{d}" if d is not None else f"{w}:cpu" for w, d in assignment.items())})
    with ProcessPoolExecutor(count, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(_worker_process, plan, worker, device, count) for worker, device in assignment.items()]
        errors = [future.exception() for future in futures]
    for error in errors:
        if error is not None:
            raise error


def _worker_process(plan, worker, device, count):
    if device is not None:  # before anything touches CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    else:  # CPU workers share the cores: threads beyond a worker's share would wait on each other (antelope.threads)
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads() // count))
    tags = {"antelope.worker": str(worker)}
    if device is not None:
        tags["antelope.cuda_visible_devices"] = device
    join(plan, worker, tags)


def join(plan, worker, tags):
    """This process as worker number `worker` of the sweep `plan` (a local worker process, a Slurm job):
    runs trials until the study has all of them; `tags` go on every run it trains. Returns the study."""
    tracking.use(plan.tracking_uri)
    storage = studies.open_storage(plan.storage, 2)
    study = studies.load(storage, plan.study, None, plan.new_pruner())
    # seeded apart from the other workers' and from earlier launches' (the study's size so far)
    study.sampler = plan.new_sampler(1000 * worker + len(study.get_trials(deepcopy=False)))
    work(study, storage, plan, tags)
    return study
