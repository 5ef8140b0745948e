"""bench-dispatch: notification latency through the whole chain, and the drain rate.

Part 1 (latency): signed Twilio webhooks at RATE reports/s for SECONDS against gunicorn
(PostgreSQL, Redis, 2 `flask worker` processes, the fake Twilio server in its own process).
Each report is a new incident in its own village, so each opens E1 and one SMS to its
township responder. Measured: webhook answer → SMS received by the fake Twilio server
(same machine clock), p50/p95/p99; and the webhook's own response time.

Part 2 (drain): DRAIN notifications queued at once (outbox rows, relayed after commit), drained
by 2 workers at SMS_RATE_PER_SECOND=DRAIN_RATE. Measured: achieved rate over the arrivals at
the fake server and duplicates.

Usage: `make bench-dispatch` (env: BENCH_DATABASE_URL, BENCH_REDIS_URL, RATE, SECONDS, DRAIN,
DRAIN_RATE). It DROPS and recreates the schema of BENCH_DATABASE_URL.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/zb_dispatch")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
RATE = float(os.environ.get("RATE", "100"))
SECONDS = float(os.environ.get("SECONDS", "60"))
DRAIN = int(os.environ.get("DRAIN", "5000"))
DRAIN_RATE = float(os.environ.get("DRAIN_RATE", "80"))
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
        db.session.execute(Division.__table__.insert(), rows)
        db.session.execute(Person.__table__.insert(), [dict(p, on_duty=True, active=True) for p in people])
        db.session.commit()
    return officers


def latency(stack: Stack, officers: list[tuple[str, str]]) -> dict:
    import requests

    from core.gateway import sign

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


def drain(stack: Stack, app) -> dict:
    from core.extensions import db
    from dispatch.outbox import queue_sms

    stack.fake("/_fake/reset", {})
    with app.app_context():
        for i in range(DRAIN):
            queue_sms(f"+86137{i:08d}", f"【灾情】排空测试 {i}", purpose="notice")
        db.session.commit()  # the after-commit relay queues all of them
    started = time.time()
    workers = stack.workers(2, SMS_RATE_PER_SECOND=str(DRAIN_RATE))
    deadline = started + DRAIN / DRAIN_RATE * 2 + 60
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
    return {"queued": DRAIN, "received": len(messages), "distinct": len(set(bodies)),
            "duplicates": len(bodies) - len(set(bodies)), "configured_rate": DRAIN_RATE,
            "achieved_rate": round(rate, 2), "deviation_pct": round((rate / DRAIN_RATE - 1) * 100, 2),
            "seconds": round(stamps[-1] - stamps[0], 1) if stamps else None}


def main() -> None:
    from core import create_app

    stack = Stack()
    os.environ.update({k: v for k, v in stack.env.items() if k not in os.environ or k in (
        "DATABASE_URL", "REDIS_URL", "TWILIO_API_BASE", "PUBLIC_BASE_URL", "TWILIO_AUTH_TOKEN", "ZAIBAO_INSTANCE")})
    app = create_app()
    officers = setup_data(app, villages=int(RATE * SECONDS))
    try:
        stack.spawn([PY, "-m", "tests.fake_twilio", "--port", str(stack.fake_port)])
        stack.spawn([str(ROOT / ".venv" / "bin" / "gunicorn"), "--bind", f"127.0.0.1:{stack.web_port}",
                     "--workers", "2", "--threads", "4", "wsgi:app"])
        stack.wait_http(f"http://127.0.0.1:{stack.fake_port}/_fake/messages")
        stack.wait_http(stack.base + "/login")
        workers = stack.workers(2)
        time.sleep(2)
        part1 = latency(stack, officers)
        print(json.dumps({"latency": part1}, ensure_ascii=False), flush=True)
        stack.stop(workers)
        part2 = drain(stack, app)
        print(json.dumps({"drain": part2}, ensure_ascii=False), flush=True)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
