"""Test fixtures: real PostgreSQL or SQLite (TEST_DATABASE_URL), real Redis, a fake Twilio
HTTP server the real `twilio` client talks to, and real worker processes.

`make test` runs the suite twice: on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from flask_migrate import upgrade
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import TestConfig  # noqa: E402
from core import create_app  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Division, Person  # noqa: E402
from core.people import hash_password  # noqa: E402
from messaging.gateway import sign  # noqa: E402
from tests.fake_twilio import FakeTwilio  # noqa: E402

PUBLIC_BASE_URL = "https://zaibao.test"
AUTH_TOKEN = "test-auth-token"
PASSWORD = "correct horse battery"


def _database_url(tmp_root: Path) -> str:
    from config import database_url

    url = os.environ.get("TEST_DATABASE_URL", "sqlite")
    if url == "sqlite":
        return f"sqlite:///{tmp_root / 'test.db'}"
    return database_url(url)


@pytest.fixture(scope="session")
def fake_twilio():
    server = FakeTwilio().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def app_config(tmp_path_factory, fake_twilio) -> dict:
    root = tmp_path_factory.mktemp("zaibao")
    return {
        "SQLALCHEMY_DATABASE_URI": _database_url(root),
        "REDIS_URL": os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_FROM": "+8610690000",
        "TWILIO_API_BASE": fake_twilio.url,
        "TWILIO_TIMEOUT_SECONDS": 2.0,
        "PUBLIC_BASE_URL": PUBLIC_BASE_URL,
        "SPOOL_DIR": str(root / "spool"),
        "SECRET_KEY": "test-secret",
        "SMS_RATE_PER_SECOND": 1000.0,
    }


def _reset_schema(app) -> None:
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
        else:
            path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
            db.engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        upgrade(revision="heads")  # the schema comes from the migrations, as in production
        db.engine.dispose()


@pytest.fixture(scope="session")
def app(app_config):
    # The settings go in before the extensions are attached (the engine is made in init_app).
    application = create_app(TestConfig, app_config)
    _reset_schema(application)
    return application


@pytest.fixture(scope="session")
def redis_client(app_config):
    client = redis.Redis.from_url(app_config["REDIS_URL"])
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.exit("Redis is not answering at " + app_config["REDIS_URL"] + " (see .ci/run)", 2)
    return client


def _truncate_all(app) -> None:
    db.session.remove()
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            # TRUNCATE costs ~20 ms per table even when empty: empty only the tables a test wrote to,
            # then every sequence back to 1 (sequences advance even in rolled-back inserts).
            used = conn.execute(text(" UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables))).scalars().all()
            superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
            if used and superuser:
                # DELETE is far cheaper than TRUNCATE on tiny tables; FK triggers off for the cycle.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for t in used:
                    conn.execute(text(f'DELETE FROM "{t}"'))
            elif used:
                conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in used) + " CASCADE"))
            conn.execute(text("SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n "
                              "ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = 'public'"))
        else:
            conn.execute(text("PRAGMA foreign_keys=OFF"))
            for t in tables:
                conn.execute(text(f'DELETE FROM "{t}"'))
            if conn.execute(text("SELECT name FROM sqlite_master WHERE name='sqlite_sequence'")).first():
                conn.execute(text("DELETE FROM sqlite_sequence"))
            conn.execute(text("PRAGMA foreign_keys=ON"))


@pytest.fixture
def statements():
    """The SQL statements the app sends to the database, in order."""
    from sqlalchemy import event

    seen: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _many):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    yield seen
    event.remove(db.engine, "before_cursor_execute", count)


@contextmanager
def intake_path(app, statements: list[str], *, express: bool):
    """One send with the express path on or off (INTAKE_EXPRESS). With it on, the send must have
    taken it: the general path stores the message with an `INSERT INTO inbound_messages` of its
    own, and a quiet fallback would make an express-against-general comparison compare the
    general path with itself."""
    app.config["INTAKE_EXPRESS"] = express
    statements.clear()
    try:
        yield
    finally:
        app.config["INTAKE_EXPRESS"] = True
    fell_back = [s[:60] for s in statements if s.startswith("INSERT INTO inbound_messages")]
    assert not (express and fell_back), f"the express path was not taken: {fell_back}"


@pytest.fixture
def county_drill(tree):
    """A drill of the tree's county (涿州市), running since five minutes ago."""
    from datetime import timedelta

    from core.exercises import Exercise
    from core.models import utcnow

    drill = Exercise(name="涿州防汛演练", division_code=tree.county.code, scenario="flood", status="running",
                     started_at=utcnow() - timedelta(minutes=5))
    db.session.add(drill)
    db.session.commit()
    return drill


@pytest.fixture(autouse=True)
def _express_path_never_fails_quietly(request, caplog):
    """The intake falls back to the general path when the express path raises, so the officer
    never notices; a test must. (A drill acknowledgement's statement that did not compile went
    the general way in every test, and the drill paid for both paths.) A test of that fallback
    is marked `express_fault`."""
    yield
    if request.node.get_closest_marker("express_fault") is None:
        failed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("express path failed")]
        assert not failed, failed


@pytest.fixture(autouse=True)
def _isolation(request, app, redis_client, fake_twilio):
    """Each test starts with empty tables, an empty Redis database, an empty spool, a quiet
    fake Twilio and the app's settings as made. (A spooled request left by one test was replayed
    by the next test's worker; a send rate of 2/s set by one test made the next one's batch job
    leave rows to the sweep.)"""
    settings = dict(app.config)
    redis_client.flushdb()
    shutil.rmtree(app.config["SPOOL_DIR"], ignore_errors=True)
    Path(app.config["SPOOL_DIR"]).mkdir(parents=True, exist_ok=True)
    fake_twilio.reset()
    app.extensions.pop("zaibao_gateway", None)
    ctx = app.app_context()
    ctx.push()
    try:
        yield
    finally:
        db.session.rollback()
        _truncate_all(app)
        ctx.pop()
        app.config.clear()
        app.config.update(settings)
        try:
            redis_client.flushdb()
        except redis.exceptions.ConnectionError:
            pass


@pytest.fixture
def cli(app):
    """Run `flask ...` in-process; commits made by the command are visible to the test."""
    runner = app.test_cli_runner()

    def invoke(*args: str):
        db.session.commit()  # nothing of the test's may hold a lock the command needs
        result = runner.invoke(args=[str(a) for a in args])
        db.session.rollback()
        db.session.expire_all()
        return result
    return invoke


@pytest.fixture
def file_app(app_config, tmp_path):
    """A second app on its own SQLite file, for migration tests that start from an older revision
    (`flask_migrate.upgrade(revision=…)` inside `with file_app.app_context()`)."""
    other = create_app(TestConfig, app_config | {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/migrated.db"})
    yield other
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def live_server(app):
    """The same app served by a real threaded HTTP server (browsers, the simulator, CLI clients)."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


# ---- data builders ------------------------------------------------------------------------

@dataclass
class Tree:
    province: Division
    city: Division
    county: Division
    township: Division       # 码头镇
    township2: Division      # 东城坊镇 (neighbour)
    village: Division        # 王庄村 under township
    village2: Division       # 李庄村 under township
    village3: Division       # 东河村 under township2
    other_county: Division   # 定州市, another county
    other_village: Division


def _division(code, parent, name, level, lon=None, lat=None) -> Division:
    fields = {"province_code": None, "city_code": None, "county_code": None, "township_code": None}
    node = parent
    while node is not None:
        fields[f"{node.level}_code"] = node.code
        node = node.parent if node.parent_code else None
    d = Division(code=code, parent_code=parent.code if parent else None, name=name, level=level,
                 lon=lon, lat=lat, **fields)
    if parent is not None:
        d.parent = parent
    db.session.add(d)
    return d


@pytest.fixture
def tree() -> Tree:
    """A small real-looking tree: 河北省 › 保定市 › 涿州市 › two townships › villages."""
    return build_tree()


def build_tree() -> Tree:
    """The `tree` fixture's divisions (a test that empties the tables builds them again)."""
    province = _division("130000000000", None, "河北省", "province", 114.52, 38.04)
    city = _division("130600000000", province, "保定市", "city", 115.46, 38.87)
    county = _division("130681000000", city, "涿州市", "county", 115.97, 39.48)
    t1 = _division("130681101000", county, "码头镇", "township", 115.90, 39.40)
    t2 = _division("130681102000", county, "东城坊镇", "township", 116.05, 39.52)
    v1 = _division("130681101001", t1, "王庄村", "village", 115.91, 39.41)
    v2 = _division("130681101002", t1, "李庄村", "village", 115.92, 39.39)
    v3 = _division("130681102001", t2, "东河村", "village", 116.06, 39.53)
    oc = _division("130682000000", city, "定州市", "county", 115.0, 38.5)
    ot = _division("130682100000", oc, "留早镇", "township", 115.01, 38.51)
    ov = _division("130682100001", ot, "西城村", "village", 115.02, 38.52)
    db.session.commit()
    return Tree(province, city, county, t1, t2, v1, v2, v3, oc, ov)


_PHONE_SEQ = iter(range(10_000, 99_999))


def new_phone() -> str:
    return f"+86138{next(_PHONE_SEQ):08d}"


@pytest.fixture
def make_person():
    def make(role: str, division: Division | str, *, phone: str | None = None, name: str | None = None,
             password: str | None = PASSWORD, on_duty: bool = True, active: bool = True) -> Person:
        code = division if isinstance(division, str) else division.code
        person = Person(name=name or f"{role}-{code[-6:]}", phone=phone or new_phone(), role=role,
                        division_code=code, on_duty=on_duty, active=active,
                        password_hash=hash_password(password) if password and role not in
                        ("officer_a", "officer_b") else None)
        db.session.add(person)
        db.session.commit()
        return person
    return make


def csrf_token(client, path: str = "/login") -> str:
    html = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


@pytest.fixture
def login(client):
    def do(person: Person, password: str = PASSWORD):
        token = csrf_token(client)
        response = client.post("/login", data={"phone": person.phone, "password": password,
                                               "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response
    return do


@pytest.fixture
def api_token():
    from core.people import create_token

    def make(person: Person) -> dict:
        return {"Authorization": f"Bearer {create_token(person)}"}
    return make


@pytest.fixture
def send_sms(client):
    """Post a correctly signed Twilio webhook, then let the intake processor file what it stored
    (as `flask worker` does right after); returns the webhook's response. `filed=False` leaves
    the stored report waiting, as during a burst."""
    from reporter import processing

    def send(from_phone: str, body: str, *, sid: str | None = None, path: str = "/sms/inbound",
             signature: str | None = None, extra: dict | None = None, filed: bool = True):
        form = {"MessageSid": sid or "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "1" * 32,
                "From": from_phone, "To": "+8610690000", "Body": body, "NumSegments": "1"}
        form.update(extra or {})
        sig = signature if signature is not None else sign(PUBLIC_BASE_URL + path, form, AUTH_TOKEN)
        response = client.post(path, data=form, headers={"X-Twilio-Signature": sig})
        if filed:
            processing.drain()
        return response
    return send


# ---- real worker processes --------------------------------------------------------------

def worker_env(app_config: dict) -> dict:
    env = dict(os.environ)
    env.update({
        "DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app_config["REDIS_URL"],
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": app_config["TWILIO_ACCOUNT_SID"],
        "TWILIO_AUTH_TOKEN": app_config["TWILIO_AUTH_TOKEN"],
        "TWILIO_FROM": app_config["TWILIO_FROM"],
        "TWILIO_API_BASE": app_config["TWILIO_API_BASE"],
        "TWILIO_TIMEOUT_SECONDS": str(app_config["TWILIO_TIMEOUT_SECONDS"]),
        "PUBLIC_BASE_URL": app_config["PUBLIC_BASE_URL"],
        "SPOOL_DIR": app_config["SPOOL_DIR"],
        "SECRET_KEY": app_config["SECRET_KEY"],
        "SMS_RATE_PER_SECOND": str(app_config["SMS_RATE_PER_SECOND"]),
        "LOG_LEVEL": "WARNING",
    })
    return env


class WorkerProcess:
    def __init__(self, env: dict, name: str) -> None:
        self.env, self.name, self.proc = env, name, None

    def start(self) -> WorkerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--name", self.name],
            cwd=ROOT, env=self.env, start_new_session=True)
        return self

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the worker's whole process group (its children too, even if it died already)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        self.proc.wait(timeout=20)

    def stop(self) -> None:
        self.kill(signal.SIGTERM) if self.proc and self.proc.poll() is None else None


@pytest.fixture
def start_worker(app_config):
    """Start real `flask worker` processes against the test database, Redis and fake Twilio."""
    started: list[WorkerProcess] = []

    def start(name: str | None = None, **env_overrides) -> WorkerProcess:
        env = worker_env(app_config)
        env.update({k: str(v) for k, v in env_overrides.items()})
        worker = WorkerProcess(env, name or f"test-{uuid.uuid4().hex[:8]}").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        try:
            worker.stop()
        except Exception:
            worker.kill()


def free_port() -> int:
    """A port where nothing listens (bound, read, released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float = 15.0, interval: float = 0.1, message: str = "condition"):
    """Poll until predicate() is truthy (for work done by another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.rollback()  # see other processes' commits
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")


from tests.private_postgres import private_app, private_postgres  # noqa: E402,F401  (fixtures of the fault tests)
