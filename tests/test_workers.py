"""antelope.workers: worker processes on one study, each pinned to a GPU (round-robin) where there are GPUs."""

import os

import pytest
from conftest import runs
from test_sweep import parent_and_children

from antelope import sweep
from antelope.sweeps.workers import devices


def test_workers_are_pinned_to_the_visible_gpus(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert devices() == ["3", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert devices() == []  # none visible: workers run on the CPU


@pytest.mark.slow
def test_workers_are_processes_on_one_study_pinned_round_robin(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")  # pinning is recorded even on a CPU-only machine
    sweep(
        model="models.Model",
        space={"optim.lr": "tag(log, interval(1e-3, 1e-1))"},
        trials=4,
        workers=2,
        train_steps=30,
        evaluate_per_steps=10,
        log_per_steps=10,
    )
    parent, children = parent_and_children(runs("Digits"))
    assert parent["tags.antelope.workers"] == "0:cuda3 1:cuda5"
    assert list(children["tags.antelope.trial"]) == ["0", "1", "2", "3"]
    assert set(children["tags.antelope.trial_state"]) == {"COMPLETE"}
    pins = dict(zip(children["tags.antelope.worker"], children["tags.antelope.cuda_visible_devices"], strict=True))
    assert pins == {"0": "3", "1": "5"}  # both worker processes ran trials, each on its own device
    assert len(set(children["tags.antelope.pid"])) == 2
    assert os.path.exists("optuna.journal")  # the default storage: a journal file, not SQLite


@pytest.mark.slow
def test_cpu_workers_share_the_cores_between_them(monkeypatch):
    import subprocess
    import sys

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    fresh = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        check=True,
    )
    share = max(1, int(fresh.stdout) // 2)
    # a model large enough that a run alone would keep every thread (antelope.train.threads): 2048-wide layers
    sweep(
        space={"optim.lr": [1e-3, 1e-2]},
        sampler="grid",
        workers=2,
        train_steps=5,
        evaluate_per_steps=0,
        **{"model.hidden": 2048},
    )
    _, children = parent_and_children(runs("Digits"))
    assert list(children["params.threads"]) == [str(share)] * 2
