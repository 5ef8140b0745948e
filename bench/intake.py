"""bench-intake: signed Twilio webhooks from 2,000 registered officers against gunicorn (2 workers)
on PostgreSQL, beside a bare Flask endpoint under the same gunicorn as the ceiling (SPEC §9).

    make bench-intake                       # defaults below
    .venv/bin/python bench/intake.py --seconds 20 --rate 500 --concurrency 32

Phases: (1) bare endpoint, closed loop; (2) /sms/inbound closed loop (as fast as it answers);
(3) /sms/inbound open loop at --rate msg/s (latency measured from the scheduled send time, so
queueing counts). After the run every 200 answer must have a stored message.
The database (BENCH_DATABASE_URL, default zb_reporter) is WIPED and rebuilt from the migrations.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

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


def start_gunicorn(env: dict, app_spec: str, port: int, chdir: Path, threads: int) -> subprocess.Popen:
    worker = ["-k", "gthread", "--threads", str(threads)] if threads > 1 else ["-k", "sync"]
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", "2", *worker, "-b", f"127.0.0.1:{port}",
                             "--chdir", str(chdir), "--log-level", "warning", app_spec],
                            env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn {app_spec} did not start")


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)


def make_requests(phones: list[str], count: int, public: str, tag: str) -> list[tuple[dict, str]]:
    from messaging.gateway import sign

    out = []
    for n in range(count):
        phone = phones[n % len(phones)]
        round_ = n // len(phones)
        body = BODIES[min(round_, len(BODIES) - 1)].format(a=n % 7, b=10 + round_ * 5 + n % 13)
        form = {"MessageSid": f"SM{tag}{n:09d}", "AccountSid": "AC" + "0" * 32, "From": phone,
                "To": "+8610690000", "Body": body, "NumSegments": "1"}
        out.append((form, sign(public + "/sms/inbound", form, TOKEN)))
    return out


async def run_phase(url: str, reqs: list[tuple[dict, str]], seconds: float, concurrency: int,
                    rate: float | None) -> dict:
    import aiohttp

    latencies: list[float] = []
    codes: dict[int | str, int] = {}
    sent_ok: list[str] = []
    connector = aiohttp.TCPConnector(limit=concurrency if rate is None else 512, force_close=True)
    timeout = aiohttp.ClientTimeout(total=30)
    started = time.perf_counter()
    stop_at = started + seconds

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def one(i: int, scheduled: float) -> None:
            form, sig = reqs[i]
            try:
                async with session.post(url, data=form, headers={"X-Twilio-Signature": sig}) as response:
                    await response.read()
                    status = response.status
            except Exception as exc:  # connection refused, timeout: an error, counted
                status = type(exc).__name__
            latencies.append(time.perf_counter() - scheduled)
            codes[status] = codes.get(status, 0) + 1
            if status == 200:
                sent_ok.append(form["MessageSid"])

        if rate is None:
            counter = iter(range(len(reqs)))

            async def loop() -> None:
                while time.perf_counter() < stop_at:
                    i = next(counter, None)
                    if i is None:
                        return
                    await one(i, time.perf_counter())

            await asyncio.gather(*(loop() for _ in range(concurrency)))
        else:
            tasks = []
            total = min(len(reqs), int(rate * seconds))
            for i in range(total):
                scheduled = started + i / rate
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(i, scheduled)))
            await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 2 else [0] * 99
    return {"requests": len(latencies), "ok": codes.get(200, 0), "errors": len(latencies) - codes.get(200, 0),
            "codes": codes, "throughput": codes.get(200, 0) / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "max_ms": latencies[-1] * 1000 if latencies else 0, "sids": sent_ok}


def stored(env: dict, sids: list[str]) -> tuple[int, int]:
    from sqlalchemy import create_engine, text

    from config import database_url

    engine = create_engine(database_url(env["DATABASE_URL"]))
    with engine.connect() as conn:
        found = conn.execute(text("SELECT count(*) FROM inbound_messages WHERE sid = ANY(:s)"), {"s": sids}).scalar()
        reports = conn.execute(text("SELECT count(*) FROM reports")).scalar()
    return found, reports


def commit_latency(env: dict, n: int = 50) -> tuple[float, float]:
    """Median and p90 ms of one tiny durable commit: the floor under every webhook (WAL fsync)."""
    from sqlalchemy import create_engine, text

    from config import database_url

    engine = create_engine(database_url(env["DATABASE_URL"]))
    times = []
    with engine.connect() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_commit_probe (id serial primary key, at float)"))
        conn.commit()
        for _ in range(n):
            started = time.perf_counter()
            conn.execute(text("INSERT INTO bench_commit_probe (at) VALUES (:t)"), {"t": started})
            conn.commit()
            times.append((time.perf_counter() - started) * 1000)
        conn.execute(text("DROP TABLE bench_commit_probe"))
        conn.commit()
    times.sort()
    return times[n // 2], times[int(n * 0.9)]


def row(name: str, r: dict) -> str:
    return (f"| {name} | {r['requests']} | {r['throughput']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['max_ms']:.0f} | {r['errors']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=15, help="per phase; 4 phases")
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--officers", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8, help="gthread threads per worker (1: sync workers)")
    args = parser.parse_args()
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    spool = tempfile.mkdtemp(prefix="zb-bench-spool-")
    env = dict(os.environ, DATABASE_URL=os.environ.get("BENCH_DATABASE_URL",
                                                      "postgresql://postgres@127.0.0.1/zb_reporter"),
               REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2"), SMS_BACKEND="console",
               TWILIO_AUTH_TOKEN=TOKEN, PUBLIC_BASE_URL=public, SPOOL_DIR=spool, LOG_LEVEL="WARNING",
               SECRET_KEY="bench", ZAIBAO_INSTANCE=tempfile.mkdtemp(prefix="zb-bench-inst-"))
    print(f"setting up {args.officers} officers in {env['DATABASE_URL']} ...", flush=True)
    phones = setup(env, args.officers)
    n = int(max(args.rate, 3000) * args.seconds * 2) + 1000
    tag = uuid.uuid4().hex[:6]
    closed_reqs = make_requests(phones, n, public, tag + "c")
    open_reqs = make_requests(phones, n, public, tag + "o")

    bare = start_gunicorn(env, "bare_app:app", port, ROOT / "bench", args.threads)
    try:
        bare_closed = asyncio.run(run_phase(public + "/sms/inbound", closed_reqs, args.seconds, args.concurrency, None))
        bare_open = asyncio.run(run_phase(public + "/sms/inbound", open_reqs, args.seconds, args.concurrency,
                                          args.rate))
    finally:
        stop(bare)
    app = start_gunicorn(env, "wsgi:app", port, ROOT, args.threads)
    try:
        closed = asyncio.run(run_phase(public + "/sms/inbound", closed_reqs, args.seconds, args.concurrency, None))
        paced = asyncio.run(run_phase(public + "/sms/inbound", open_reqs, args.seconds, args.concurrency, args.rate))
    finally:
        stop(app)
    sids = closed["sids"] + paced["sids"]
    commit_p50, commit_p90 = commit_latency(env)
    found, reports = stored(env, sids)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"\n{when}, {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end; "
          f"{args.officers} officers, gunicorn -w 2 " + (f"-k gthread --threads {args.threads}" if args.threads > 1
                                                           else "-k sync"))
    print("| phase | requests | answered 200 per s | p50 ms | p99 ms | max ms | errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    print(row(f"bare Flask, closed loop c={args.concurrency}", bare_closed))
    print(row(f"bare Flask, open loop {args.rate:.0f}/s", bare_open))
    print(row(f"/sms/inbound, closed loop c={args.concurrency}", closed))
    print(row(f"/sms/inbound, open loop {args.rate:.0f}/s", paced))
    print(f"\nanswered 200: {len(sids)}; stored messages with those sids: {found}; reports stored: {reports}; "
          f"other answers: {closed['codes'] | paced['codes']}")
    print(f"one durable INSERT+COMMIT on this server right after the run: p50 {commit_p50:.1f} ms, "
          f"p90 {commit_p90:.1f} ms (sequential)")
    if found != len(sids):
        print("MISMATCH: answered messages that were not stored", file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
