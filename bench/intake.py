"""bench-intake: signed Twilio webhooks against gunicorn on PostgreSQL, driven by wrk, in one run:
a bare Flask endpoint, a bare Flask endpoint doing one INSERT (the ceiling), and the service.

    make bench-intake                               # 15 s per phase, wrk -t1 -c16, sync workers
    .venv/bin/python bench/intake.py --seconds 15 --connections 16 --workers 2

For each phase: requests answered per second, p50/p99, errors, the CPU the server and wrk spent
per request (wrk must cost far less than the server, or it measures itself), the load average.
For the service also: every message answered 200 is stored; the rate sustained end to end
(from the first request until nothing waits to be processed); and how long the township alerts
of the reports sent in the burst took to reach the gateway (a `flask worker` and a `flask intake
run` run beside it, as the README deploys them; console backend). The database
(BENCH_DATABASE_URL, default zb_reporter) is WIPED.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TOKEN = "bench-auth-token"
BODIES = ["初报 洪涝 死亡0 失踪{a} 转移{b}", "续报 洪涝 转移{b} 受伤{a}", "洪涝 转移{b}", "零报告",
          "续报 转移{b} 倒塌{a}间 损失{a}万元 村东头堤坝渗水", "帮助"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup(env: dict, officers: int) -> list[str]:
    """Fresh schema from the migrations; divisions and one officer per village; returns phones."""
    os.environ.update(env)
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from core import create_app
    from core.extensions import db
    from core.models import Division, Person

    app = create_app()
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
        upgrade(revision="heads")
        with db.engine.begin() as conn:  # the one-INSERT app's table
            conn.execute(text("CREATE TABLE bench_insert (id serial PRIMARY KEY, sid varchar(64), body text, "
                              "at timestamptz DEFAULT now())"))
        prov, city = "130000000000", "130600000000"
        rows = [dict(code=prov, parent_code=None, name="河北省", level="province"),
                dict(code=city, parent_code=prov, name="保定市", level="city", province_code=prov)]
        people, phones = [], []
        per_town, per_county = 20, 10
        for n in range(officers):
            c, t, v = n // (per_town * per_county), (n // per_town) % per_county, n % per_town
            county = f"1306{81 + c:02d}000000"
            town = county[:6] + f"{101 + t:03d}000"
            village = town[:9] + f"{1 + v:03d}"
            if n % (per_town * per_county) == 0:
                rows.append(dict(code=county, parent_code=city, name=f"县{c}", level="county",
                                 province_code=prov, city_code=city))
            if n % per_town == 0:
                rows.append(dict(code=town, parent_code=county, name=f"镇{c}-{t}", level="township",
                                 province_code=prov, city_code=city, county_code=county))
                people.append(dict(name=f"镇{c}-{t}应急办", phone=f"+86137{n:08d}", role="township",
                                   division_code=town, on_duty=True, active=True))
            rows.append(dict(code=village, parent_code=town, name=f"村{n}", level="village", province_code=prov,
                             city_code=city, county_code=county, township_code=town))
            phone = f"+86138{n:08d}"
            phones.append(phone)
            people.append(dict(name=f"信息员{n}", phone=phone, role="officer_a", division_code=village,
                               on_duty=True, active=True))
        full = [{k: r.get(k) for k in ("code", "parent_code", "name", "level", "province_code", "city_code",
                                        "county_code", "township_code")} for r in rows]
        db.session.execute(insert(Division), full)
        db.session.execute(insert(Person), people)
        db.session.commit()
    return phones


def start_gunicorn(env: dict, app_spec: str, port: int, chdir: Path, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", str(workers), "-k", "sync",
                             "-b", f"127.0.0.1:{port}", "--chdir", str(chdir), "--log-level", "warning",
                             "--graceful-timeout", "3", app_spec],
                            env=env | {"PYTHONPATH": str(ROOT)}, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn {app_spec} did not start")


def warm_up(url: str, count: int = 20) -> None:
    """A few requests first: each sync worker imports the app after the port opens, and the
    first requests compile SQL; neither belongs in a measured phase."""
    import requests

    for _ in range(count):
        try:
            requests.get(url, timeout=30)
        except requests.RequestException:
            time.sleep(0.5)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the whole group; what is still there after 5 s is killed (gunicorn's graceful
    timeout is 3 s here, so a stop never waits 30 s)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
    except ProcessLookupError:
        pass


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every process of a process group, from /proc."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5 of stat (pgrp), counted after the command name
            total += int(fields[11]) + int(fields[12])
    return total / tick


def postgres_cpu_seconds() -> float:
    """User + system CPU of the local PostgreSQL server's processes (0 when it is elsewhere)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def write_requests(phones: list[str], count: int, public: str, tag: str, path: Path) -> list[str]:
    """Pre-signed webhooks for wrk (signing is not timed); returns their MessageSids in order."""
    from messaging.gateway import sign

    sids = []
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            phone = phones[n % len(phones)]
            round_ = n // len(phones)
            body = BODIES[min(round_, len(BODIES) - 1)].format(a=n % 7, b=10 + round_ * 5 + n % 13)
            form = {"MessageSid": f"SM{tag}{n:09d}", "AccountSid": "AC" + "0" * 32, "From": phone,
                    "To": "+8610690000", "Body": body, "NumSegments": "1"}
            out.write(sign(public + "/sms/inbound", form, TOKEN) + "\t" + urlencode(form) + "\n")
            sids.append(form["MessageSid"])
    return sids


def _ms(text: str) -> float:
    """wrk's latency (`812.00us`, `1.02s`); NaN when it has none (`-nanus`: no request answered)."""
    found = re.match(r"([\d.]+)(us|ms|s|m)", text)
    if found is None:
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(url: str, requests: Path, seconds: float, connections: int, pgid: int) -> dict:
    """wrk -t1 -cN --latency; the server's and wrk's CPU per request; load average."""
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = group_cpu_seconds(pgid)
    load = os.getloadavg()[0]
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "10s",
                          "-s", str(ROOT / "bench/wrk_requests.lua"), url],
                         env=dict(os.environ, WRK_REQUESTS=str(requests)), capture_output=True, text=True, check=True)
    server_cpu = group_cpu_seconds(pgid) - server_before
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after_children.ru_utime - before_children.ru_utime
               + after_children.ru_stime - before_children.ru_stime)
    text = out.stdout
    total = int(re.search(r"(\d+) requests in", text).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    non2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", text)) else 0
    sock = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", text))
    return {"requests": total, "rate": rate, "p50_ms": _ms(re.search(r"50%\s+(\S+)", text).group(1)),
            "p99_ms": _ms(re.search(r"99%\s+(\S+)", text).group(1)), "errors": non2xx + sock,
            "server_cpu_ms": 1000 * server_cpu / max(total, 1), "wrk_cpu_ms": 1000 * wrk_cpu / max(total, 1),
            "load": load}


def row(name: str, r: dict, ceiling: float | None = None) -> str:
    share = f"{r['rate'] / ceiling:.2f}×" if ceiling else ""
    return (f"| {name} | {r['requests']} | {r['rate']:.0f} | {share} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['errors']} | {r['server_cpu_ms']:.2f} | {r['wrk_cpu_ms']:.3f} | {r['load']:.1f} |")


def engine_for(env: dict):
    from sqlalchemy import create_engine

    from config import database_url

    return create_engine(database_url(env["DATABASE_URL"]))


def drain(env: dict, started: float, sids: list[str], timeout: float = 180.0) -> dict:
    """Wait until nothing of the burst waits (intake backlog 0, outbox empty); then the rate
    sustained from the first request to that moment, and how long the alerts took."""
    from sqlalchemy import text

    engine = engine_for(env)
    with engine.connect() as conn:
        backlog_zero = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            waiting = conn.execute(text("SELECT count(*) FROM inbound_messages WHERE outcome = 'pending'")).scalar()
            if waiting == 0 and backlog_zero is None:
                backlog_zero = time.perf_counter()
            unsent = conn.execute(text("SELECT count(*) FROM outbound_sms WHERE status IN ('pending', 'sending') "
                                       "AND purpose = 'alert'")).scalar()
            conn.rollback()
            if waiting == 0 and unsent == 0:
                break
            time.sleep(0.2)
        delays = [row[0] for row in conn.execute(text(
            "SELECT EXTRACT(EPOCH FROM o.sent_at - m.received_at) FROM outbound_sms o "
            "JOIN reports r ON r.id = o.report_id JOIN inbound_messages m ON m.id = r.message_id "
            "WHERE o.purpose = 'alert' AND o.sent_at IS NOT NULL AND m.sid = ANY(:s) ORDER BY 1"), {"s": sids})]
        unsent = conn.execute(text("SELECT count(*) FROM outbound_sms WHERE status IN ('pending', 'sending')")).scalar()
        stored = conn.execute(text("SELECT count(*) FROM inbound_messages WHERE sid = ANY(:s)"), {"s": sids}).scalar()
        processed = conn.execute(text("SELECT count(*) FROM inbound_messages WHERE sid = ANY(:s) "
                                      "AND outcome <> 'pending'"), {"s": sids}).scalar()
    engine.dispose()
    elapsed = (backlog_zero or time.perf_counter()) - started

    def pct(p: float) -> float | None:
        return float(delays[min(len(delays) - 1, int(p * len(delays)))]) if delays else None
    return {"stored": stored, "processed": processed, "sustained": processed / elapsed, "alerts": len(delays),
            "alert_p50_s": pct(0.5), "alert_p95_s": pct(0.95), "unsent": unsent}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="per phase; 3 phases")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers, the same for every phase")
    parser.add_argument("--officers", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=150_000, help="pre-signed webhooks in the wrk file")
    parser.add_argument("--processors", type=int, default=1, help="`flask intake run` processes beside the worker")
    parser.add_argument("--worker-processors", type=int, default=0,
                        help="processor threads inside `flask worker` (INTAKE_PROCESSORS; the README's deployment "
                             "on a box with a core to spare: 0, and one `flask intake run`)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    scratch = Path(tempfile.mkdtemp(prefix="zb-bench-intake-"))
    env = dict(os.environ, DATABASE_URL=os.environ.get("BENCH_DATABASE_URL",
                                                      "postgresql://postgres@127.0.0.1/zb_reporter"),
               REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"), SMS_BACKEND="console",
               TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=public, SPOOL_DIR=str(scratch / "spool"),
               LOG_LEVEL="WARNING", SECRET_KEY="bench", ZAIBAO_INSTANCE=str(scratch / "instance"),
               SMS_RATE_PER_SECOND="1000")
    print(f"setting up {args.officers} officers in {env['DATABASE_URL']} ...", flush=True)
    phones = setup(env, args.officers)
    subprocess.run(["redis-cli", "-u", env["REDIS_URL"], "flushdb"], capture_output=True)
    requests = scratch / "requests.tsv"
    sids = write_requests(phones, args.requests, public, uuid.uuid4().hex[:6], requests)
    url = public + "/sms/inbound"

    results = {}
    for name, spec, chdir in (("bare", "bare_app:app", ROOT / "bench"), ("insert", "insert_app:app", ROOT / "bench")):
        server = start_gunicorn(env, spec, port, chdir, args.workers)
        warm_up(public + "/")
        try:
            results[name] = run_wrk(url, requests, args.seconds, args.connections, server.pid)
        finally:
            stop(server)
    worker = subprocess.Popen([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "worker"], cwd=ROOT,
                              env=env | {"PYTHONPATH": str(ROOT), "INTAKE_PROCESSORS": str(args.worker_processors)},
                              start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    processors = [subprocess.Popen([str(ROOT / ".venv/bin/flask"), "--app", "wsgi", "intake", "run"], cwd=ROOT,
                                   env=env | {"PYTHONPATH": str(ROOT)}, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                  for _ in range(args.processors)]
    server = start_gunicorn(env, "wsgi:app", port, ROOT, args.workers)
    warm_up(public + "/healthz")
    try:
        background = [worker, *processors]
        cpu_before = sum(group_cpu_seconds(p.pid) for p in background)
        postgres_before = postgres_cpu_seconds()
        started = time.perf_counter()
        results["ours"] = run_wrk(url, requests, args.seconds, args.connections, server.pid)
        end = drain(env, started, sids)  # wrk stops with requests in flight: count the whole file
        end["background_cpu_ms"] = 1000 * (sum(group_cpu_seconds(p.pid) for p in background) - cpu_before) / max(
            end["processed"], 1)
        end["postgres_cpu_ms"] = 1000 * (postgres_cpu_seconds() - postgres_before) / max(end["processed"], 1)
    finally:
        stop(server)
        stop(worker)
        for processor in processors:
            stop(processor)
    shutil.rmtree(scratch, ignore_errors=True)

    ceiling = results["insert"]["rate"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{when}, {platform.node()}, {os.cpu_count()} cores; {args.officers} officers; gunicorn -w "
          f"{args.workers} -k sync; intake processors: {args.worker_processors} in the worker + "
          f"{args.processors} `flask intake run`; "
          f"wrk -t1 -c{args.connections} -d{args.seconds:g}s; load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print("| phase | requests | answered/s | share of the one-INSERT app | p50 ms | p99 ms | errors | "
          "server CPU ms/req | wrk CPU ms/req | load before |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(row("bare Flask (TwiML only)", results["bare"], ceiling))
    print(row("bare Flask + one INSERT (the ceiling)", results["insert"], ceiling))
    print(row("POST /sms/inbound", results["ours"], ceiling))
    alerts = (f"p50 {end['alert_p50_s']:.2f} s, p95 {end['alert_p95_s']:.2f} s over {end['alerts']} township alerts"
              if end["alerts"] else "no alerts sent")
    print(f"\nstored {end['stored']} messages for {results['ours']['requests']} answers; "
          f"processed {end['processed']}; sustained end to end {end['sustained']:.0f} msg/s "
          f"({end['sustained'] / ceiling:.2f}× the one-INSERT app); alert latency (SMS received → handed to the "
          f"gateway) {alerts}; SMS still unsent after the drain: {end['unsent']}; worker and processors "
          f"(filing + sending) {end['background_cpu_ms']:.1f} ms CPU per message; PostgreSQL "
          f"{end['postgres_cpu_ms']:.1f} ms CPU per message (request, filing and sending)")
    if end["stored"] < results["ours"]["requests"] - results["ours"]["errors"]:
        print("MISMATCH: answered messages that were not stored", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
