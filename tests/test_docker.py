"""docker/: no Docker engine runs here, so the files are checked as data: the compose file's structure,
and the Dockerfile's install step being the README's."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def test_compose_starts_a_trainer_beside_mlflow_on_postgres_bound_to_localhost():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "mlflow", "trainer"}
    mlflow = services["mlflow"]
    assert mlflow["entrypoint"] == ["mlflow", "server"]
    assert any(
        arg.startswith("--backend-store-uri=postgresql+psycopg://") and "@postgres/" in arg for arg in mlflow["command"]
    )
    assert all(port.startswith("127.0.0.1:") for port in mlflow["ports"])  # not exposed beyond this machine
    assert mlflow["depends_on"]["postgres"]["condition"] == "service_healthy"
    trainer = services["trainer"]
    assert trainer["environment"]["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert trainer["build"]["dockerfile"] == "docker/Dockerfile"
    assert trainer["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert "ports" not in trainer and "ports" not in services["postgres"]
    initdb = ROOT / "docker" / "initdb"
    assert (initdb / "optuna.sql").read_text().strip().splitlines()[-1] == "CREATE DATABASE optuna;"


def test_dockerfile_installs_like_the_readme_and_runs_ml():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM \S*pytorch\S*cuda", dockerfile, flags=re.M)
    install = re.findall(r"^RUN (.*)$", dockerfile, flags=re.M)
    readme_install = (ROOT / "README.md").read_text().split("```console\n", 1)[1].splitlines()[0]
    assert readme_install.startswith("pip install -e .")
    assert any("pip install" in line and "-e '.[postgres]'" in line for line in install)
    assert 'ENTRYPOINT ["ml"]' in dockerfile
    for copied in re.findall(r"^COPY (\S+)", dockerfile, flags=re.M):  # everything it copies exists
        assert (ROOT / copied).exists(), copied
