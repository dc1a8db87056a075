"""Sweep workers: processes that each run trials of one study until it has all its trials.

A worker starts its next trial as soon as its last one ends (no batch barrier), puts a trial whose worker was
lost back in the study's queue and takes the first queued trial before starting a new one, and with nothing
left to start waits while others' trials run (one may yet lose its worker), so the study ends with exactly
`sweep.trials` trials. Local worker processes are supervised by the sweep's own process (`run_workers`): one
that dies is replaced, its trial continued by the next free worker; if the sweep's process dies, they stop
with checkpoints. On a machine with GPUs each worker process is pinned to one, round-robin.
"""

import os
import sys
import time
import traceback

from .. import processes, tracking
from . import seed_queue, studies
from .trial import run_trial, take_back


def work(study, storage, plan, tags):
    """Run trials in this process until the study has plan.trials (counting every process's and machine's)."""
    from optuna.trial import TrialState

    # Runs left RUNNING by dead processes of this host, closed once here rather than by every trial's run
    tracking.close_stale_runs(tracking.experiment_id_of(plan.experiment))
    while True:
        trials = study.get_trials(deepcopy=False)  # one read of the study per trial this worker starts
        lost = studies.lost_trials(trials, plan.heartbeat)
        for trial, why in lost:
            said = take_back(study, storage, plan, trial, why)
            if said is not None:
                print(f"ml: {said}", file=sys.stderr)
        if lost:
            trials = study.get_trials(deepcopy=False)
        queued = any(t.state == TrialState.WAITING for t in trials)
        if not queued and plan.seeds > 1 and seed_queue.run_waiting(study, storage, plan, tags):
            continue  # a waiting seed of a running trial first: that trial ends sooner, for the sampler to learn from
        if queued or len(studies.counted(trials)) - plan.warm_trials < plan.trials:
            run_trial(study, storage, plan, tags)  # the first in the queue (continued, or sweep.enqueue's), or new
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


def run_workers(plan, count, study, storage):
    """`count` worker processes (not threads: trials are CPU/GPU-bound), each running trials on the shared study,
    supervised by this one: a worker that dies (killed, out of memory, any exit of its own making but a normal
    one) is said in one line, its trial goes back to the study's queue for the next free worker to continue from
    its checkpoint (or ends FAIL after sweep.retries losses: antelope.sweeps.trial.take_back), and a new worker
    takes its place, on its device, so the sweep keeps its pace. Raises the first error a worker raised (bad
    input that every trial would hit, or Ctrl-C) once every worker has stopped."""
    import multiprocessing
    from multiprocessing.connection import wait

    context = multiprocessing.get_context("spawn")
    pinned = devices()
    assignment = {worker: pinned[worker % len(pinned)] if pinned else None for worker in range(count)}
    tracking.set_tags(
        plan.parent_run_id,
        {
            "antelope.workers": " ".join(  # e.g. '0:cuda0 1:cuda1'
                f"{w}:cuda{d}" if d is not None else f"{w}:cpu" for w, d in assignment.items()
            )
        },
    )

    def start(worker):
        receiving, sending = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker_process,
            args=(plan, worker, assignment[worker], count, sending),
            name=f"sweep-worker-{worker}",
        )
        process.start()
        sending.close()  # the worker's end: the parent keeps only its own
        return process, receiving

    running = {worker: start(worker) for worker in assignment}
    errors, idle_deaths, deaths = [], 0, 0
    # every trial may lose its worker retries + 1 times before it ends FAIL: more deaths than that is no trial's doing
    most = plan.trials * (plan.retries + 1) + IDLE_DEATHS
    try:
        while running:
            ended = set(wait([process.sentinel for process, _ in running.values()]))
            for worker, (process, receiving) in list(running.items()):
                if process.sentinel not in ended:
                    continue
                process.join()
                del running[worker]
                error = _received(receiving)
                if error is not None:
                    errors.append(error)
                elif process.exitcode != 0:
                    said, ran_a_trial = _died(study, storage, plan, worker, process)
                    for line in said:
                        print(f"ml: {line}", file=sys.stderr)
                    idle_deaths, deaths = 0 if ran_a_trial else idle_deaths + 1, deaths + 1
                    if deaths > most:
                        raise RuntimeError(
                            f"sweep workers died {deaths} times, more than its trials and retries "
                            f"explain (the last {_how(process.exitcode)}); their output is above"
                        )
                    if idle_deaths >= IDLE_DEATHS:
                        raise RuntimeError(
                            f"sweep workers keep dying before they run a trial ({IDLE_DEATHS} in a row, the last "
                            f"{_how(process.exitcode)}); their output is above"
                        )
                    running[worker] = start(worker)  # its place is taken: the sweep keeps its workers
    except BaseException:
        for process, _ in running.values():  # Ctrl-C reached them too: each saves its trial's checkpoint first
            process.join()
        raise
    if errors:
        raise errors[0]


def _received(receiving):
    """What a worker sent before it ended (an error it raised), or None: it sent nothing, its end is closed."""
    try:
        return receiving.recv() if receiving.poll() else None
    except EOFError:
        return None
    finally:
        receiving.close()


IDLE_DEATHS = 3  # workers that die in a row before running any trial: the sweep stops (an import fails, ...)


def _how(exitcode):
    """'was killed by signal SIGKILL' or 'exited with code 3', from a Process's exit code."""
    import signal

    if exitcode < 0:
        return f"was killed by signal {signal.Signals(-exitcode).name}"
    return f"exited with code {exitcode}"


def _died(study, storage, plan, worker, process):
    """(lines for the console, whether it was running a trial or a seed) about a worker process that died: which
    worker, how, and its seed of a trial (sweep.seeds) and its trial: back in the queue (or ended FAIL:
    take_back), or, when another worker found it lost first, as it stands."""
    from optuna.trial import TrialState

    recorded = f"{processes.this_process().rpartition(':')[0]}:{process.pid}"
    dead = f"worker {worker} (pid {process.pid}) {_how(process.exitcode)}"
    said = []  # its seed of a trial (sweep.seeds), back in the queue first: its trial's worker may be waiting for it
    if plan.seeds > 1:
        sown = seed_queue.seed_study(storage, plan)
        for job in seed_queue.running_in(sown, recorded):
            line = seed_queue.take_back(storage, sown, plan, job, dead)
            said.append(
                line or f"{dead}; another worker took its seed of trial {job.user_attrs[seed_queue.TRIAL]} back first"
            )
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.RUNNING and trial.user_attrs.get(studies.PROCESS) == recorded:
            line = take_back(study, storage, plan, trial, dead)
            return [*said, line or f"{dead}; another worker took its trial {trial.number} back first"], True
        if trial.user_attrs.get(studies.LOST, "").startswith(f"worker {recorded}:"):  # another worker found it first
            state = "goes back to the queue" if trial.state == TrialState.WAITING else f"is {trial.state.name}"
            return [*said, f"{dead}; its trial {trial.number} {state}"], True
    if said:
        return said, True
    return [f"{dead} between trials; a new worker takes its place"], False


def _worker_process(plan, worker, device, count, errors):
    """One local worker process: runs trials until the study has them all; an error it raises goes to the parent
    through `errors` (a pipe). If the parent dies (kill -9, a closed terminal), the worker stops as on SIGTERM:
    its trial saves a checkpoint and goes back to the queue, for the same sweep run again to continue."""
    import threading

    threading.Thread(target=_stop_when_the_parent_dies, name="parent-watch", daemon=True).start()
    if device is not None:  # before anything touches CUDA in this process
        os.environ["CUDA_VISIBLE_DEVICES"] = device
    else:  # CPU workers share the cores: threads past a worker's share wait on each other (antelope.train.threads)
        import torch

        torch.set_num_threads(max(1, torch.get_num_threads() // count))
    tags = {"antelope.worker": str(worker)}
    if device is not None:
        tags["antelope.cuda_visible_devices"] = device
    try:
        join(plan, worker, tags)
    except BaseException as error:
        try:
            errors.send(error)
        except Exception:  # the parent is gone (or the error does not pickle): said on this worker's stderr
            traceback.print_exc()
    finally:
        errors.close()


def _stop_when_the_parent_dies():
    """Waits on the parent process's sentinel (ready when the parent exits, however), then asks this process to
    stop as a scheduler would: SIGTERM, which the trainer turns into a checkpoint and a released trial."""
    import multiprocessing
    import signal
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os.kill(os.getpid(), signal.SIGTERM)


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
