"""bench-dispatch: notification latency through the whole chain, and the drain rate.

Part 1 (latency): signed Twilio webhooks at RATE reports/s for SECONDS against gunicorn
(PostgreSQL, Redis, 2 `flask worker` processes, the fake Twilio server in its own process).
Each report is a new incident in its own village, so each opens E1 and one SMS to its
township responder. Measured: webhook answer → SMS received by the fake Twilio server
(same machine clock), p50/p95/p99; and the webhook's own response time.

Part 2 (drain): DRAIN notifications queued at once (outbox rows, relayed after commit), drained
by 2 workers at SMS_RATE_PER_SECOND=DRAIN_RATE. Measured: achieved rate over the arrivals at
the fake server and duplicates.

Usage: `make bench-dispatch` (env: BENCH_DATABASE_URL, BENCH_REDIS_URL, BENCH_RATE, BENCH_SECONDS,
BENCH_DRAIN, BENCH_DRAIN_RATE). It DROPS and recreates the schema of BENCH_DATABASE_URL.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/zb_dispatch")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
RATE = float(os.environ.get("BENCH_RATE", "100"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "60"))
DRAIN = int(os.environ.get("BENCH_DRAIN", "5000"))
DRAIN_RATE = float(os.environ.get("BENCH_DRAIN_RATE", "50"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "4"))
DRAIN_WORKERS = int(os.environ.get("BENCH_DRAIN_WORKERS", "4"))
# webhook: through gunicorn and the reporter; direct: Report/Incident rows + after_report_saved +
# commit in this process (dispatch alone, as the reporter's transaction would run it).
MODE = os.environ.get("BENCH_MODE", "webhook")
TOKEN = "bench-auth-token"
PY = str(ROOT / ".venv" / "bin" / "python")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Stack:
    """Fake Twilio, gunicorn and workers as subprocesses, all on one environment."""

    def __init__(self) -> None:
        self.fake_port, self.web_port = free_port(), free_port()
        self.base = f"http://127.0.0.1:{self.web_port}"
        self.env = dict(os.environ, DATABASE_URL=DB, REDIS_URL=REDIS, SMS_BACKEND="twilio",
                        TWILIO_ACCOUNT_SID="AC" + "1" * 32, TWILIO_AUTH_TOKEN=TOKEN, TWILIO_FROM="+8610690000",
                        TWILIO_API_BASE=f"http://127.0.0.1:{self.fake_port}", TWILIO_TIMEOUT_SECONDS="10",
                        PUBLIC_BASE_URL=self.base, SECRET_KEY="bench", LOG_LEVEL="WARNING",
                        SMS_RATE_PER_SECOND="1000", OUTBOX_SWEEP_SECONDS="2", ESCALATION_SWEEP_SECONDS="5",
                        ZAIBAO_INSTANCE="/tmp/zb_bench_dispatch_inst")
        self.procs: list[subprocess.Popen] = []

    def spawn(self, args: list[str], **env) -> subprocess.Popen:
        proc = subprocess.Popen(args, cwd=ROOT, env={**self.env, **env}, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def fake(self, path: str, payload: dict | None = None) -> dict:
        url = f"http://127.0.0.1:{self.fake_port}{path}"
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        with urllib.request.urlopen(req, timeout=30) as response:
            return json.loads(response.read())

    def wait_http(self, url: str) -> None:
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=1)
                return
            except Exception:  # noqa: BLE001
                time.sleep(0.1)
        raise RuntimeError(f"{url} did not come up")

    def workers(self, n: int, **env) -> list[subprocess.Popen]:
        return [self.spawn([PY, "-m", "flask", "--app", "wsgi", "worker", "--name", f"bench-{uuid.uuid4().hex[:6]}"],
                           **env) for _ in range(n)]

    def stop(self, procs: list[subprocess.Popen] | None = None) -> None:
        for proc in procs or self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs or self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def setup_data(app, villages: int) -> list[tuple[str, str]]:
    """One county, 60 townships (one on-duty responder each), `villages` villages (officer A each)."""
    import redis
    from flask_migrate import upgrade
    from sqlalchemy import text

    from core.extensions import db
    from core.models import Division, Person

    redis.Redis.from_url(REDIS).flushdb()
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
        upgrade(revision="heads")
        rows = [dict(code="130000000000", parent_code=None, name="河北省", level="province"),
                dict(code="130600000000", parent_code="130000000000", name="保定市", level="city",
                     province_code="130000000000"),
                dict(code="130681000000", parent_code="130600000000", name="涿州市", level="county",
                     province_code="130000000000", city_code="130600000000")]
        people, officers = [], []
        anc = dict(province_code="130000000000", city_code="130600000000", county_code="130681000000")
        for t in range(60):
            tcode = f"130681{101 + t:03d}000"
            rows.append(dict(code=tcode, parent_code="130681000000", name=f"镇{t}", level="township", **anc))
            people.append(dict(name=f"镇{t}值班", phone=f"+86139{t:08d}", role="township", division_code=tcode))
        for v in range(villages):
            t = v % 60
            tcode = f"130681{101 + t:03d}000"
            vcode = tcode[:9] + f"{v // 60 + 1:03d}"
            rows.append(dict(code=vcode, parent_code=tcode, name=f"村{v}", level="village", township_code=tcode, **anc))
            phone = f"+86138{v:08d}"
            people.append(dict(name=f"村{v}A", phone=phone, role="officer_a", division_code=vcode))
            officers.append((phone, vcode))
        keys = ("code", "parent_code", "name", "level", "province_code", "city_code", "county_code",
                "township_code")  # executemany takes its columns from the first row: give all rows all keys
        db.session.execute(Division.__table__.insert(), [{k: r.get(k) for k in keys} for r in rows])
        db.session.execute(Person.__table__.insert(), [dict(p, on_duty=True, active=True) for p in people])
        db.session.commit()
    return officers


def latency(stack: Stack, officers: list[tuple[str, str]]) -> dict:
    import requests

    from messaging.gateway import sign

    stack.fake("/_fake/reset", {})
    url = stack.base + "/sms/inbound"
    answered: dict[str, float] = {}
    web_ms: list[float] = []
    errors = 0
    lock = threading.Lock()
    local = threading.local()

    def post(phone: str) -> None:
        nonlocal errors
        session = getattr(local, "s", None) or requests.Session()
        local.s = session
        form = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": "AC" + "1" * 32, "From": phone,
                "To": "+8610690000", "Body": "初报 洪涝 转移30", "NumSegments": "1"}
        started = time.time()
        try:
            response = session.post(url, data=form, headers={"X-Twilio-Signature": sign(url, form, TOKEN)},
                                    timeout=10)
            done = time.time()
            match = re.search(r"R(\d+)", response.text)
            with lock:
                web_ms.append((done - started) * 1000)
                if response.status_code == 200 and match:
                    answered[f"R{match.group(1)}"] = done
                else:
                    errors += 1
        except Exception:  # noqa: BLE001
            with lock:
                errors += 1

    total = int(RATE * SECONDS)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for i in range(total):
            delay = t0 + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(post, officers[i % len(officers)][0])
    sent_for = time.monotonic() - t0
    deadline = time.time() + 120
    arrivals: dict[str, float] = {}
    while time.time() < deadline:
        messages = stack.fake("/_fake/messages")["messages"]
        arrivals = {}
        for m in messages:
            match = re.search(r" (R\d+)。", m["body"])
            if match:
                arrivals.setdefault(match.group(1), m["at"])
        if len(arrivals) >= len(answered):
            break
        time.sleep(1)
    lat = [(arrivals[r] - t) * 1000 for r, t in answered.items() if r in arrivals]
    return {"reports": total, "offered_per_s": round(total / sent_for, 1), "answered": len(answered),
            "errors": errors, "sms_arrived": len(lat), "duplicates": len(messages) - len(arrivals),
            "webhook_ms": {"p50": round(pct(web_ms, 50), 1), "p95": round(pct(web_ms, 95), 1),
                           "p99": round(pct(web_ms, 99), 1)},
            "answer_to_sms_ms": {"p50": round(pct(lat, 50)), "p95": round(pct(lat, 95)), "p99": round(pct(lat, 99)),
                                 "max": round(max(lat))} if lat else None}


def direct(stack: Stack, app, officers: list[tuple[str, str]]) -> dict:
    """RATE reports/s straight into dispatch: commit time → SMS arrival."""
    from core.extensions import db
    from core.models import Division
    from dispatch import flows
    from reporter.models import Incident, Report

    stack.fake("/_fake/reset", {})
    committed: dict[str, float] = {}
    commit_ms: list[float] = []
    lock = threading.Lock()

    def one(village_code: str) -> None:
        with app.app_context():
            started = time.time()
            village = db.session.get(Division, village_code)
            incident = Incident(village_code=village.code, township_code=village.township_code,
                                county_code=village.county_code, hazard="flood", report_count=1, flags=[],
                                relocated=30)
            db.session.add(incident)
            report = Report(kind="initial", hazard="flood", village_code=village.code, channel="sms", flags=[],
                            township_code=village.township_code, county_code=village.county_code, relocated=30)
            db.session.add(report)
            db.session.flush()
            report.incident_id = incident.id
            flows.after_report_saved(report, incident, None)
            db.session.commit()
            done = time.time()
            with lock:
                committed[f"R{report.id}"] = done
                commit_ms.append((done - started) * 1000)
            db.session.remove()

    total = int(RATE * SECONDS)
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for i in range(total):
            delay = t0 + i / RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, officers[i % len(officers)][1])
    took = time.monotonic() - t0
    arrivals = _await_arrivals(stack, len(committed))
    lat = [(arrivals[r] - t) * 1000 for r, t in committed.items() if r in arrivals]
    return {"mode": "direct", "reports": total, "achieved_per_s": round(total / took, 1),
            "sms_arrived": len(lat), "transaction_ms": {"p50": round(pct(commit_ms, 50), 1),
                                                        "p95": round(pct(commit_ms, 95), 1)},
            "commit_to_sms_ms": {"p50": round(pct(lat, 50)), "p95": round(pct(lat, 95)), "p99": round(pct(lat, 99)),
                                 "max": round(max(lat))} if lat else None}


def _await_arrivals(stack: Stack, expected: int) -> dict[str, float]:
    deadline = time.time() + 120
    arrivals: dict[str, float] = {}
    while time.time() < deadline:
        arrivals = {}
        for m in stack.fake("/_fake/messages")["messages"]:
            match = re.search(r" (R\d+)。", m["body"])
            if match:
                arrivals.setdefault(match.group(1), m["at"])
        if len(arrivals) >= expected:
            break
        time.sleep(1)
    return arrivals


def drain(stack: Stack, app) -> dict:
    from core.extensions import db
    from messaging.outbox import queue_sms

    stack.fake("/_fake/reset", {})
    workers = stack.workers(DRAIN_WORKERS, SMS_RATE_PER_SECOND=str(DRAIN_RATE))
    time.sleep(5)  # every worker up before the flood, so the measure is the limiter, not start-up
    with app.app_context():
        for i in range(DRAIN):
            queue_sms(f"+86137{i:08d}", f"【灾情】排空测试 {i}", purpose="notice")
        db.session.commit()  # the after-commit relay queues all of them
    deadline = time.time() + DRAIN / DRAIN_RATE * 2 + 60
    messages: list[dict] = []
    while time.time() < deadline:
        messages = stack.fake("/_fake/messages")["messages"]
        if len(messages) >= DRAIN:
            break
        time.sleep(1)
    time.sleep(3)
    messages = stack.fake("/_fake/messages")["messages"]
    stack.stop(workers)
    stamps = sorted(m["at"] for m in messages)
    bodies = [m["body"] for m in messages]
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 else 0.0
    lo, hi = int(len(stamps) * 0.05), int(len(stamps) * 0.95)
    middle = (hi - lo) / (stamps[hi] - stamps[lo]) if len(stamps) > 20 else rate
    per_second = Counter(int(t - stamps[0]) for t in stamps) if stamps else Counter()
    return {"queued": DRAIN, "workers": DRAIN_WORKERS, "received": len(messages), "distinct": len(set(bodies)),
            "duplicates": len(bodies) - len(set(bodies)), "configured_rate": DRAIN_RATE,
            "achieved_rate": round(rate, 2), "deviation_pct": round((rate / DRAIN_RATE - 1) * 100, 2),
            "middle_90pct_rate": round(middle, 2), "max_in_any_second": max(per_second.values(), default=0),
            "seconds": round(stamps[-1] - stamps[0], 1) if stamps else None}


def main() -> None:
    stack = Stack()
    os.environ.update(stack.env)  # before `config` is imported: its settings are read at import
    from core import create_app

    app = create_app()
    officers = setup_data(app, villages=max(1, int(RATE * SECONDS)))
    try:
        # The fake answers headers and body in two writes; with Nagle on, each answer waits for the
        # client's delayed ACK (~40 ms), which real Twilio does not do. Turned off for the benchmark.
        stack.spawn([PY, "-c", "from tests.fake_twilio import FakeTwilio; "
                     f"f = FakeTwilio(port={stack.fake_port}); "
                     "f.server.RequestHandlerClass.disable_nagle_algorithm = True; f.server.serve_forever()"])
        stack.spawn([str(ROOT / ".venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{stack.web_port}",
                     "--workers", "2", "--threads", "4", "wsgi:app"])
        stack.wait_http(f"http://127.0.0.1:{stack.fake_port}/_fake/messages")
        stack.wait_http(stack.base + "/login")
        if SECONDS > 0:
            workers = stack.workers(WORKERS)
            time.sleep(2)
            part1 = direct(stack, app, officers) if MODE == "direct" else latency(stack, officers)
            print(json.dumps({"latency": part1}, ensure_ascii=False), flush=True)
            stack.stop(workers)
        if DRAIN <= 0:
            return
        part2 = drain(stack, app)
        print(json.dumps({"drain": part2}, ensure_ascii=False), flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
