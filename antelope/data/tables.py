"""Tables as datasets: `dataset=file.csv` or `.parquet`, read whole with pandas, the `label_column` the label and
every other column a feature; integer, string or boolean labels make a classification task, float labels a
regression task. Every row is checked when the file is read, before any run is opened.
"""

import os
import sys

import torch

from ..errors import ConfigError
from ..imports import did_you_mean


def read(path, test_path, label_column, bad_samples):
    """(train, test, num_classes, skipped): a table's rows as (obs, label) tensors, the test file's too (None
    without one), the classes (None: regression), and how many rows bad_samples=skip left out. Every row is checked
    first (one line naming the file, the column and the first bad row): rows, a feature column, numbers, no missing
    or infinite value, and a test file that matches the training file's columns and labels."""
    train, skipped = _checked(_read(path, label_column), path, label_column, bad_samples)
    test = None
    if test_path is not None:
        test, test_skipped = _checked(_read(test_path, label_column), test_path, label_column, bad_samples)
        skipped += test_skipped
        test = _matching(test, train, test_path, path, label_column)
    labels = train[label_column] if test is None else _concat(train[label_column], test[label_column])
    classification = not (labels.dtype.kind == "f")
    categories = sorted(labels.unique()) if classification else []
    if classification and len(categories) == 1:
        print(
            f"ml: warning: {path}: every label is {_plain(categories[0])!r}: a classification run with one class "
            f"cannot learn anything useful",
            file=sys.stderr,
        )

    def tensors(frame):
        obs = torch.tensor(frame.drop(columns=[label_column]).to_numpy(dtype="float32"))
        if classification:
            label = torch.tensor(frame[label_column].map({c: i for i, c in enumerate(categories)}).to_numpy("int64"))
        else:
            label = torch.tensor(frame[label_column].to_numpy("float32"))
        return obs, label

    return tensors(train), tensors(test) if test is not None else None, len(categories) or None, skipped


def _checked(frame, path, label_column, bad_samples):
    """(the table's rows that can be trained on, how many were left out), or one line saying what is wrong."""
    import numpy as np

    features = [c for c in frame.columns if c != label_column]
    if len(frame) == 0:
        raise ConfigError(
            f"{path} has no rows, only its header ({', '.join(map(str, frame.columns))}): nothing to train on"
        )
    if not features:
        raise ConfigError(
            f"{path} has no feature column, only its label column {label_column!r}: nothing to learn "
            f"from (if another column is the label, set label_column=)"
        )
    text = [c for c in features if frame[c].dtype.kind not in "biuf"]
    if text:
        raise ConfigError(
            f"{path}: feature columns must be numeric; {', '.join(map(repr, text))} "
            f"are not (the label column is {label_column!r}, see label_column=)"
        )
    bad = {c: frame[c].isna() | (np.isinf(frame[c]) if frame[c].dtype.kind == "f" else False) for c in frame.columns}
    rows = np.logical_or.reduce([mask.to_numpy() for mask in bad.values()])
    if not rows.any():
        return frame, 0
    if bad_samples == "skip":
        kept = frame[~rows]
        if len(kept) == 0:
            raise ConfigError(f"{path}: every row has a missing or infinite value: nothing is left to train on")
        return kept, int(rows.sum())
    column = next(c for c, mask in bad.items() if mask.any())
    first = int(np.flatnonzero(bad[column].to_numpy())[0])
    missing, infinite = int(frame[column].isna().sum()), int(bad[column].sum() - frame[column].isna().sum())
    what = " and ".join(f"{n} {kind}" for n, kind in ((missing, "missing"), (infinite, "infinite")) if n)
    line = f" (line {first + 2} of the file)" if path.endswith(".csv") else ""
    others = sum(1 for c, mask in bad.items() if mask.any() and c != column)
    plural = "s" * (missing + infinite > 1)
    raise ConfigError(
        f"{path}: column {column!r} has {what} value{plural}, the first in row {first + 1}{line}"
        + (f" (and {others} more column{'s' * (others > 1)} have some)" if others else "")
        + "; bad_samples=skip leaves such rows out, or fill them in before ml"
    )


def _matching(test, train, test_path, path, label_column):
    """The test table with the training table's feature columns in its order, when it has the same features and
    labels of the same kind (for classification: only the training file's classes); else one line saying so."""
    features = [c for c in train.columns if c != label_column]
    given = [c for c in test.columns if c != label_column]
    lacking, extra = [c for c in features if c not in given], [c for c in given if c not in features]
    if lacking or extra:
        said = ([f"lacks column{'s' * (len(lacking) > 1)} {', '.join(map(repr, lacking))}"] if lacking else []) + (
            [f"has column{'s' * (len(extra) > 1)} {', '.join(map(repr, extra))} that {path} has not"] if extra else []
        )
        raise ConfigError(
            f"test_dataset={test_path} does not match {path}: it {' and '.join(said)}; a test file needs "
            f"the training file's feature columns"
        )
    kinds = {
        "f": "numbers with a fraction (regression)",
        "b": "true/false",
        "i": "whole numbers",
        "u": "whole numbers",
        "O": "text",
    }
    mine, theirs = train[label_column].dtype.kind, test[label_column].dtype.kind
    if kinds.get(mine, mine) != kinds.get(theirs, theirs):
        raise ConfigError(
            f"test_dataset={test_path} does not match {path}: its labels are "
            f"{kinds.get(theirs, theirs)}, the training file's {kinds.get(mine, mine)}"
        )
    if mine != "f":
        unseen = sorted(set(test[label_column].unique()) - set(train[label_column].unique()), key=str)
        if unseen:
            raise ConfigError(
                f"test_dataset={test_path}: label{'s' * (len(unseen) > 1)} "
                f"{', '.join(repr(_plain(v)) for v in unseen[:5])}{' ...' if len(unseen) > 5 else ''} never appear in "
                f"{path}: a classifier predicts only the training file's classes"
            )
    return test[features + [label_column]]


def _plain(value):
    """A table's value as Python has it (numpy's int64(3) is 3), for a message."""
    return value.item() if hasattr(value, "item") else value


def _concat(a, b):
    import pandas

    return pandas.concat([a, b])


def _read(path, label_column):
    import pandas

    if not os.path.isfile(path):
        raise ConfigError(f"dataset file {path!r} does not exist")
    try:
        frame = pandas.read_csv(path) if path.endswith(".csv") else pandas.read_parquet(path)
    except Exception as error:  # pandas raises many types for a corrupt file
        raise ConfigError(f"cannot read dataset file {path!r}: {str(error).splitlines()[0]}") from None
    if label_column not in frame.columns:
        raise ConfigError(
            f"{path} has no label column {label_column!r}{did_you_mean(label_column, frame.columns)}; "
            f"its columns: {', '.join(map(str, frame.columns))} (set label_column=)"
        )
    return frame
