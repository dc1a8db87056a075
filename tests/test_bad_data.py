"""Bad data gets one clear line before training, through the console (cli.main, what `ml` runs): a table's missing
or infinite values, no rows, no feature column, one class, a test file that does not match; a user's Dataset with
a NaN; and a NaN loss that says what is known of why. Each: the line, the exit code, and what MLflow holds."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import runs

from antelope.cli import main

RUN = ["train_steps=10", "evaluate_per_steps=0", "system_metrics=false"]
ROWS = {
    "a": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    "b": [1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
    "label": [0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
}


def table(workdir, name="t.csv", **changes):
    frame = pd.DataFrame({**ROWS, **changes})
    frame.to_csv(workdir / name, index=False)
    return name


def one_error_line(capsys, *arguments):
    """The console's exit status and its stderr, which must be the one error line."""
    status = main([*arguments, *RUN])
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return status, err


@pytest.mark.parametrize(
    "column, value, said",
    [
        ("a", np.nan, "column 'a' has 1 missing value, the first in row 3 (line 4 of the file)"),
        ("b", np.inf, "column 'b' has 1 infinite value, the first in row 3 (line 4 of the file)"),
        ("label", np.nan, "column 'label' has 1 missing value, the first in row 3 (line 4 of the file)"),
    ],
)
def test_a_missing_or_infinite_value_names_its_column_and_row_and_no_run_is_left(capsys, workdir, column, value, said):
    values = list(ROWS[column])
    values[2] = value
    name = table(workdir, **{column: values})
    status, err = one_error_line(capsys, f"dataset={name}")
    assert (
        status == 2
        and err == f"ml: error: t.csv: {said}; bad_samples=skip leaves such rows out, or fill them in before ml"
    )
    assert runs().empty


def test_bad_samples_skip_leaves_the_rows_out_counted_and_recorded(capsys, workdir):
    a = list(ROWS["a"])
    a[2], a[5] = np.nan, np.inf
    name = table(workdir, a=a)
    assert main([f"dataset={name}", "bad_samples=skip", *RUN]) == 0
    assert "ml: 2 unreadable samples were left out (bad_samples=skip)" in capsys.readouterr().err
    run = runs().iloc[0]
    assert run["status"] == "FINISHED" and run["metrics.data/skipped_samples"] == 2


@pytest.mark.parametrize(
    "frame, said",
    [
        (
            pd.DataFrame({"a": [], "b": [], "label": []}),
            "t.csv has no rows, only its header (a, b, label): nothing to train on",
        ),
        (
            pd.DataFrame({"label": [0, 1, 0, 1]}),
            "t.csv has no feature column, only its label column 'label': nothing to "
            "learn from (if another column is the label, set label_column=)",
        ),
    ],
)
def test_a_table_without_rows_or_features_is_one_line(capsys, workdir, frame, said):
    frame.to_csv(workdir / "t.csv", index=False)
    assert one_error_line(capsys, "dataset=t.csv") == (2, f"ml: error: {said}")
    assert runs().empty


def test_one_class_is_a_warning_and_the_run_trains(capsys, workdir):
    name = table(workdir, label=[3] * 10)
    assert main([f"dataset={name}", *RUN]) == 0
    assert (
        "ml: warning: t.csv: every label is 3: a classification run with one class cannot learn anything useful"
        in capsys.readouterr().err
    )
    assert list(runs()["status"]) == ["FINISHED"]


@pytest.mark.parametrize(
    "test, said",
    [
        (
            dict(b=None),
            "test_dataset=test.csv does not match t.csv: it lacks column 'b'; a test file needs the training "
            "file's feature columns",
        ),
        (
            dict(c=[0.0] * 10),
            "test_dataset=test.csv does not match t.csv: it has column 'c' that t.csv has not; a test "
            "file needs the training file's feature columns",
        ),
        (
            dict(label=["x", "y"] * 5),
            "test_dataset=test.csv does not match t.csv: its labels are text, the training file's whole numbers",
        ),
        (
            dict(label=[0, 1, 2, 7, 0, 1, 0, 1, 0, 1]),
            "test_dataset=test.csv: labels 2, 7 never appear in t.csv: a "
            "classifier predicts only the training file's classes",
        ),
    ],
)
def test_a_test_file_that_does_not_match_the_training_file_is_one_line(capsys, workdir, test, said):
    name = table(workdir)
    frame = pd.DataFrame({**ROWS, **{k: v for k, v in test.items() if v is not None}})
    frame.drop(columns=[k for k, v in test.items() if v is None]).to_csv(workdir / "test.csv", index=False)
    assert one_error_line(capsys, f"dataset={name}", "test_dataset=test.csv") == (2, f"ml: error: {said}")
    assert runs().empty


def test_a_test_file_with_its_columns_in_another_order_is_read_in_the_training_files_order(workdir):
    from antelope.data import load

    table(workdir)
    pd.DataFrame({"label": ROWS["label"], "b": ROWS["b"], "a": ROWS["a"]}).to_csv(workdir / "test.csv", index=False)
    data = load("t.csv", "test.csv")
    assert torch.equal(data.test.obs, data.train.obs[:0].new_tensor(np.stack([ROWS["a"], ROWS["b"]], 1)))


class WithNan(torch.utils.data.Dataset):
    """Eight samples of 4 features; sample 5's input holds a NaN. `arrays`: it exposes .data/.targets (the fast
    path that reads them whole), else each sample is read."""

    def __init__(self, train=True, arrays=False):
        self.x = torch.ones(8, 4)
        self.x[5, 2] = float("nan")
        self.y = torch.arange(8) % 2
        if arrays:
            self.data, self.targets = self.x, self.y

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return self.x[index], int(self.y[index])


class WithNanArrays(WithNan):
    def __init__(self, train=True):
        super().__init__(train, arrays=True)


@pytest.mark.parametrize("dataset", [WithNan, WithNanArrays])
def test_a_datasets_nan_is_named_with_its_sample_before_training(capsys, dataset):
    status, err = one_error_line(capsys, f"dataset=test_bad_data.{dataset.__name__}", "batch_size=2")
    assert status == 2 and err == (
        f"ml: error: dataset {dataset.__name__}: sample 5 of {dataset.__name__} has a NaN "
        f"in its input (x)"
        + (
            " (1 of its 8 samples have such values; bad_samples=skip leaves them out)"
            if dataset is WithNanArrays
            else " (bad_samples=skip leaves samples with NaN or infinite values out)"
        )
    )
    assert runs().empty


def test_a_nan_loss_on_finite_data_points_at_the_optimizer(capsys):
    assert main(["optim=SGD", "optim.lr=1e6", "train_steps=30", "log_per_steps=10", "system_metrics=false"]) == 1
    err = capsys.readouterr().err
    assert (
        "ml: error: the loss became nan at step" in err
        and "with lr 1e+06 (train/loss is not finite); the "
        "data's inputs and labels were all finite when read, so training diverged: lower the learning rate or "
        "clip the gradients (grad_clip=)"
        in err
    )
    assert list(runs()["status"]) == ["FAILED"]
