"""A run's data as MLflow dataset inputs: each split's name, source, digest, schema and size."""

import json
import os
from dataclasses import dataclass
from typing import Optional

from .client import client as _client
from .client import redact


@dataclass
class DatasetInput:
    """One of a run's data: `name`, its `context` (train or eval), its `source` (a path or a name), a
    `digest` of its content (runs on different versions of a file differ there), and its `features` and
    `targets` (tensors: their shapes and dtypes are its schema)."""

    name: str
    context: str
    source: str
    digest: str
    features: object
    targets: object
    rows: Optional[int] = None  # None: len(features); a streamed split's features are a sample of its rows


def log_datasets(run_id, inputs):
    """A run's DatasetInputs as MLflow dataset inputs, in one request."""
    from mlflow.entities import Dataset, InputTag
    from mlflow.entities import DatasetInput as Input
    from mlflow.types import Schema, TensorSpec

    def spec(tensor):
        import numpy

        return Schema(
            [TensorSpec(numpy.dtype(str(tensor.dtype).removeprefix("torch.")), (-1, *tensor.shape[1:]))]
        ).to_json()

    def entity(data):
        schema = {"mlflow_tensorspec": {"features": spec(data.features), "targets": spec(data.targets)}}
        rows = len(data.features) if data.rows is None else data.rows
        profile = {
            "num_rows": rows,
            "features_shape": [rows, *data.features.shape[1:]],
            "targets_shape": [rows, *data.targets.shape[1:]],
        }
        local = os.path.exists(data.source)
        return Dataset(
            name=data.name,
            digest=data.digest,
            source_type="local" if local else "code",
            source=json.dumps({"uri": redact(os.path.abspath(data.source) if local else data.source)}),
            schema=json.dumps(schema),
            profile=json.dumps(profile),
        )

    # MLflow's store looks a dataset up by (experiment, name, digest) and inserts it when missing, not atomically:
    # sweep workers starting trials on the same data at once race to insert it and all but one get a
    # unique-constraint error. The row exists by then, so the same request again links to it.
    from tenacity import retry, retry_if_exception, stop_after_attempt

    request = [Input(entity(d), [InputTag("mlflow.data.context", d.context)]) for d in inputs]
    log = retry(
        retry=retry_if_exception(_lost_insert_race), stop=stop_after_attempt(INSERT_RACE_ATTEMPTS), reraise=True
    )(_client().log_inputs)
    return log(run_id, request)


INSERT_RACE_ATTEMPTS = 3


def _lost_insert_race(error):
    """Whether an error is MLflow's report of a database's unique-constraint violation (SQLite, PostgreSQL,
    MySQL wording)."""
    from mlflow.exceptions import MlflowException

    message = str(error).lower()
    return isinstance(error, MlflowException) and (
        "unique constraint" in message or "duplicate key" in message or "duplicate entry" in message
    )
