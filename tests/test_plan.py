"""antelope.sweeps.plan on its own: a sweep's plan from its overrides (no study, no run): presets expanded, the
default objective told from the labels without reading the data, directions, the study's name."""

import pytest
import torch

from antelope import ConfigError, config
from antelope.sweeps.plan import expand_presets, plan_of
from antelope.sweeps.space import Space

SETTINGS = ["sweep.trials=3"]


def plan(*fixed, settings=SETTINGS, objects=None):
    space = Space.parse(["optim.lr=interval(1e-3, 1e-1)", *fixed])
    cfg, _ = config.compose(space.probe() + list(settings))
    return plan_of(cfg, space, objects or {}, list(settings))


class Huge(torch.utils.data.Dataset):
    """A streamed dataset whose every sample but the first is too expensive to read: reading it whole fails."""

    classes, reads, label = None, [], 1

    def __len__(self):
        return 10**9

    def __getitem__(self, index):
        Huge.reads.append(index)
        if index > 0:
            raise RuntimeError(f"sample {index} read: the whole dataset is being read")
        return torch.zeros(3, 8, 8, dtype=torch.uint8), self.label


class HugeRegression(Huge):
    label = 0.5


@pytest.mark.parametrize("dataset, metric", [(Huge, "eval/accuracy"), (HugeRegression, "eval/mse")])
def test_the_default_objective_comes_from_the_labels_without_reading_the_data(dataset, metric):
    Huge.reads.clear()
    made = plan(objects={"dataset": dataset(), "test_dataset": dataset()})
    assert (made.objectives, made.directions) == ((metric,), ("maximize" if metric == "eval/accuracy" else "minimize",))
    assert Huge.reads == [0]  # one sample's label, nothing more


def test_digits_is_a_classification_and_a_table_of_float_labels_a_regression(workdir):
    assert plan().objectives == ("eval/accuracy",)
    (workdir / "t.csv").write_text("a,label\n1.0,0.5\n2.0,1.5\n3.0,2.5\n4.0,0.1\n5.0,0.2\n")
    assert plan(f"dataset={workdir / 't.csv'}").objectives == ("eval/mse",)
    assert plan("env=CartPole-v1").objectives == ("eval/return",)


def test_objectives_and_directions_given_and_their_bad_input():
    made = plan(settings=["sweep.objective=[eval/accuracy,cost/parameters]"])
    assert made.multi and made.directions == ("maximize", "minimize") and made.pruner == "none"
    with pytest.raises(ConfigError, match="gives 1 directions for 2 objectives"):
        plan(settings=["sweep.objective=[eval/accuracy,cost/parameters]", "sweep.direction=[maximize]"])
    with pytest.raises(ConfigError, match="sweep.objective=train/thing has no known direction"):
        plan(settings=["sweep.objective=train/thing"])
    with pytest.raises(ConfigError, match=r"sweep.retries=-1 must be at least 0"):
        plan(settings=["sweep.retries=-1"])
    with pytest.raises(ConfigError, match=r"^launcher=slurm submits one run; a sweep's trials go to Slurm with sweep"):
        plan(settings=["launcher=slurm"])


def test_the_same_sweep_gets_the_same_study_name_and_another_space_another():
    assert plan().study == plan().study == plan(settings=["sweep.trials=9"]).study  # trials may change on resume
    assert plan().study != plan("batch_size=32").study and plan().study.startswith("Digits-sweep-")


def test_a_preset_expands_into_its_overrides_where_it_is_named(workdir):
    (workdir / "sweeps").mkdir()
    (workdir / "sweeps" / "mine.yaml").write_text("optim.lr: tag(log, interval(1e-4, 1e-1))\nsweep:\n  trials: 5\n")
    assert expand_presets(["batch_size=32", "sweep=mine", "sweep.trials=7"]) == [
        "batch_size=32",
        "optim.lr=tag(log, interval(1e-4, 1e-1))",
        "sweep.trials=5",
        "sweep.trials=7",
    ]
    assert any(line.startswith("optim=") for line in expand_presets(["sweep=optimizers"]))  # a shipped preset
    with pytest.raises(ConfigError, match="unknown sweep preset 'mien' \\(did you mean 'mine'\\?\\)"):
        expand_presets(["sweep=mien"])


def test_every_worker_walks_a_grid_in_the_same_order_so_parallel_trials_cover_it_once():
    """Optuna's grid sampler gives trial k the k-th point of its grid as shuffled by its seed: workers seeded apart
    (as for the other samplers) would each shuffle it their own way and repeat some points and skip others."""
    import optuna

    space = Space.parse(["optim.lr=choice(0.05,0.03,0.02,0.01,0.005)", "optim.weight_decay=choice(0,0.01)"])
    settings = ["sweep.trials=10", "sweep.sampler=grid"]
    cfg, _ = config.compose(space.probe() + settings)
    grid_plan = plan_of(cfg, space, {}, settings)
    study = optuna.create_study(storage=optuna.storages.InMemoryStorage(), direction="maximize")
    workers = [grid_plan.new_sampler(1000 * worker) for worker in range(2)]  # as sweeps.workers.join seeds them
    drawn = []
    for number in range(10):  # the two workers ask in turn
        study.sampler = workers[number % 2]
        drawn.append(tuple(sorted(grid_plan.space.suggest(study.ask()).items())))
    assert len(set(drawn)) == 10
