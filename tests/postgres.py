"""A throwaway PostgreSQL server for tests: `initdb` + `pg_ctl` as the `postgres` user (the server
refuses to run as root), on a free port on 127.0.0.1, in a temp folder; stopped and removed at the end.

    def test_x(postgres):      # the fixture from conftest: a URL for a fresh database
        url = postgres("mydb")  # postgresql+psycopg://postgres@127.0.0.1:PORT/mydb
"""

import getpass
import os
import shutil
import socket
import subprocess
import tempfile

import pytest


def _as_postgres(*command):
    prefix = ["runuser", "-u", "postgres", "--"] if getpass.getuser() == "root" else []
    return subprocess.run(prefix + list(command), capture_output=True, text=True, timeout=60)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self):
        if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
            pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.folder = tempfile.mkdtemp(prefix="antelope-pg-")
        os.chmod(self.folder, 0o777)
        if getpass.getuser() == "root":
            shutil.chown(self.folder, "postgres")
        self.data, self.port = os.path.join(self.folder, "data"), _free_port()
        done = _as_postgres("initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        assert done.returncode == 0, done.stderr
        done = _as_postgres(
            "pg_ctl",
            "-D",
            self.data,
            "-w",
            "-l",
            os.path.join(self.folder, "log"),
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1",
            "start",
        )
        assert done.returncode == 0, done.stderr + open(os.path.join(self.folder, "log")).read()

    def database(self, name):
        """A new database's SQLAlchemy URL (psycopg 3 driver)."""
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self):
        _as_postgres("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")  # -w: returns once stopped
        shutil.rmtree(self.folder, ignore_errors=True)
