"""A private PostgreSQL cluster for fault tests: initdb in a temporary folder, its own port, so a
test may stop it (SIGSTOP: hung; pg_ctl stop: down) without disturbing anything else."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

BIN = Path("/usr/lib/postgresql")


def _bin(name: str) -> str | None:
    found = sorted(BIN.glob(f"*/bin/{name}")) if BIN.exists() else []
    return str(found[-1]) if found else shutil.which(name)


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    if os.geteuid() != 0:
        return args
    return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(args)]


@pytest.fixture
def private_postgres():
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="zaibao-hung-pg-"))  # not under pytest's root-only folder
    if os.geteuid() == 0:
        uid = pwd.getpwnam("postgres").pw_uid
        os.chown(root, uid, -1)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = root / "data"
    subprocess.run(_as_postgres([initdb, "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    options = f"'-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off'"
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]),
                   check=True, capture_output=True)
    server = {"url": f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", "data": data}
    server["stop"] = lambda: subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
    server["start"] = lambda: subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]),
        check=True, capture_output=True)
    yield server
    signal_all(data, signal.SIGCONT)
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def signal_all(data: Path, sig: int) -> None:
    """The postmaster and every backend: a whole server that stops answering."""
    pidfile = data / "postmaster.pid"
    if not pidfile.exists():  # stopped already
        return
    pid = int(pidfile.read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [pid, *map(int, children)]:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass




@pytest.fixture
def private_app(private_postgres, app_config, tmp_path):
    """The service on the private cluster, schema from the migrations: `private_app(**settings)`.
    Its pool is disposed at the end (the cluster may be stopped or hung by then)."""
    from flask_migrate import upgrade

    from config import TestConfig
    from core import create_app
    from core.extensions import db

    made = []

    def make(**settings):
        app = create_app(TestConfig, {**app_config, "SQLALCHEMY_DATABASE_URI": private_postgres["url"],
                                      "SPOOL_DIR": str(tmp_path / "spool"), **settings})
        with app.app_context():
            upgrade(revision="heads")
        made.append(app)
        return app
    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
