"""A database that hangs instead of refusing (SPEC §9 "nothing lost"; the intake issue).

A stopped PostgreSQL (SIGSTOP: a crashed host, a full disk, a swapping box) keeps its sockets
open, so the driver waits forever and a connect timeout never fires. Measured at 5cf5f64: every
webhook held for the whole 10 s stall and nothing was spooled. The webhook must store within
about a second or spool the request and answer; the spool is replayed exactly once later.

These tests start a private PostgreSQL cluster (initdb in a temporary folder) so that stopping
it disturbs nothing else.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from flask_migrate import upgrade

from config import TestConfig
from core import create_app
from core.extensions import db
from core.models import Division, Person
from messaging.gateway import sign
from reporter import spool
from reporter.models import InboundMessage
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.reporter.conftest import twiml_text

BIN = Path("/usr/lib/postgresql")
OFFICER = "+8613800000123"


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
    yield server
    _signal_all(data, signal.SIGCONT)
    subprocess.run(_as_postgres([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


def _signal_all(data: Path, sig: int) -> None:
    """The postmaster and every backend: a whole server that stops answering."""
    pid = int((data / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    for p in [pid, *map(int, children)]:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


@pytest.fixture
def hung_app(private_postgres, app_config, tmp_path):
    app = create_app(TestConfig, {**app_config, "SQLALCHEMY_DATABASE_URI": private_postgres["url"],
                                  "SPOOL_DIR": str(tmp_path / "spool"), "WEBHOOK_STORE_SECONDS": 1.0})
    with app.app_context():
        upgrade(revision="heads")
        province = Division(code="130000000000", name="河北省", level="province")
        village = Division(code="130681101001", parent_code=None, name="王庄村", level="village",
                           province_code="130000000000")
        db.session.add_all([province, village])
        db.session.add(Person(name="王官员", phone=OFFICER, role="officer_a", division_code=village.code))
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _post(app, body: str) -> tuple[str, float, str]:
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": OFFICER, "To": "+8610690000", "Body": body}
    signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    started = time.monotonic()
    response = app.test_client().post("/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    return twiml_text(response), time.monotonic() - started, form["MessageSid"]


def test_a_hung_database_spools_within_about_a_second_and_replays_once(hung_app, private_postgres):
    reply, _took, _sid = _post(hung_app, "零报告")
    assert "零报告" in reply  # the server answers: stored and handled as usual

    _signal_all(private_postgres["data"], signal.SIGSTOP)
    # Whatever happens, the server wakes up after 12 s, so a webhook that waits for it
    # (the behaviour before the time limit) fails the assertions below instead of hanging.
    waker = threading.Timer(12, _signal_all, args=(private_postgres["data"], signal.SIGCONT))
    waker.start()
    try:
        first, took_first, sid_first = _post(hung_app, "初报 洪涝 转移30")   # a pooled connection, hung
        second, took_second, sid_second = _post(hung_app, "续报 转移40")     # again, with the same stall
    finally:
        waker.cancel()
        _signal_all(private_postgres["data"], signal.SIGCONT)
    assert first == second == "已收到，稍后处理。"
    assert took_first < 2.5 and took_second < 2.5, (took_first, took_second)

    with hung_app.app_context():
        assert spool.pending_count() == 2
        counts = spool.replay()
        assert counts["replayed"] == 2 and spool.pending_count() == 0
        assert spool.replay()["replayed"] == 0  # nothing twice
        stored = {m.sid: m for m in db.session.query(InboundMessage).all()}
        assert sid_first in stored and sid_second in stored and len(stored) == 3
        assert stored[sid_first].outcome == "report" and stored[sid_second].outcome == "report"

    reply, _took, _sid = _post(hung_app, "续报 转移50")  # and the webhook works again
    assert "续报" in reply
