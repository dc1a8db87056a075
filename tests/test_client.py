"""antelope.tracking.client without a server: MLflow's refusals as one-line errors (made as MLflow's client raises
them), and the UI addresses `ml` prints."""

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, UNAUTHENTICATED

from antelope.tracking.client import refused_error, see_it, ui_address

SERVER = "http://alice:secret@mlflow.lab:5000"


def refusal(status, body):
    """What MlflowClient raises when the server answers `status` with `body` (mlflow.utils.rest_utils)."""
    code = {401: UNAUTHENTICATED, 403: PERMISSION_DENIED}[status]
    return MlflowException(
        f"API request to endpoint /api/2.0/mlflow/experiments/search failed with error code {status} != 200. "
        f"Response body: '{body}'",
        error_code=code,
    )


def test_a_refused_address_names_allowed_hosts_not_a_permission(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    error = refused_error(
        refusal(403, "Invalid Host header - possible DNS rebinding attack detected"), SERVER, "read its experiments"
    )
    assert str(error) == (
        "the MLflow tracking server MLFLOW_TRACKING_URI=http://alice:***@mlflow.lab:5000 refuses requests addressed "
        "to mlflow.lab:5000 (its allowed-hosts check, before any login): start it with ALLOWED_HOSTS=mlflow.lab:5000 "
        "(tracking/server.sh), or reach it at an address it allows"
    )


def test_a_user_without_permission_and_a_missing_login_say_what_to_do(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    denied = refused_error(refusal(403, "Permission denied"), SERVER, "read its experiments")
    assert "does not let user 'alice' read its experiments; its admin can give EDIT permission" in str(denied)
    login = refused_error(refusal(401, "You are not authenticated."), "http://mlflow.lab:5000", "read")
    assert "asks for a login: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD" in str(login)
    assert refused_error(MlflowException("boom"), SERVER, "read") is None  # not a refusal: raised as it is


@pytest.mark.parametrize(
    "uri, expected",
    [
        ("sqlite:///mlflow.db", "http://127.0.0.1:5000/#/experiments/7/runs?workflowType=machine_learning"),
        (SERVER, "http://mlflow.lab:5000/#/experiments/7/runs?workflowType=machine_learning"),  # no password
    ],
)
def test_the_ui_address_opens_an_experiments_training_runs(monkeypatch, uri, expected):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert ui_address("7") == expected
    told = see_it("7")
    assert told == f"see it with: {'ml ui, then ' * uri.startswith('sqlite')}{expected}   (or: ml runs, ml plot)"
