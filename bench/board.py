"""`make bench-board`: the incident board of a county with 5,000 open incidents and 50,000 reports.

Builds the data straight into PostgreSQL (schema from the migrations, like production), starts
gunicorn on it, logs in as the county office and times the board page and its data calls
(sequential requests, p50/p95 as the client sees them). Appends the figures to bench/README.md
(section bench-board). Goal (SPEC §9): the board served in < 300 ms.

    make bench-board                                   # BENCH_DATABASE_URL=…/zb_board
    .venv/bin/python bench/board.py --requests 30

The database named by BENCH_DATABASE_URL is dropped and rebuilt: never point it at real data.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1/zb_board")
PORT = int(os.environ.get("BENCH_PORT", "5098"))
PASSWORD = "bench-board-pass"
COUNTY_PHONE = "+8613900009999"
TOWNSHIPS, VILLAGES_PER_TOWNSHIP, REPORTS_PER_INCIDENT = 20, 250, 10
HAZARD_ROTATION = ("flood",) * 8 + ("geological", "wind_hail")


def _env() -> dict:
    env = dict(os.environ)
    env.update({"DATABASE_URL": DB_URL, "SECRET_KEY": "bench-board", "LOG_LEVEL": "WARNING",
                "SMS_BACKEND": "console", "ZAIBAO_INSTANCE": "/tmp/zb_board_bench_inst"})
    return env


def build() -> dict:
    """Reset the schema and write the county (bulk inserts; a few seconds)."""
    os.environ.update(_env())
    from flask_migrate import upgrade
    from sqlalchemy import insert, text

    from core import create_app
    from core.extensions import db
    from core.models import Division, Person
    from core.people import hash_password
    from dispatch.models import Escalation, escalation_recipients
    from messaging.models import OutboundSms
    from reporter.models import Event, Incident, Report

    app = create_app()
    rng = random.Random(5)
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
        upgrade(revision="heads")
        now = datetime.now(UTC)
        base = {"urban_rural_code": None, "virtual": False}
        divs = [
            {**base, "code": "130000000000", "parent_code": None, "name": "河北省", "level": "province",
             "province_code": None, "city_code": None, "county_code": None, "township_code": None,
             "lon": 114.5, "lat": 38.0},
            {**base, "code": "130600000000", "parent_code": "130000000000", "name": "保定市", "level": "city",
             "province_code": "130000000000", "city_code": None, "county_code": None, "township_code": None,
             "lon": 115.4, "lat": 38.8},
            {**base, "code": "130681000000", "parent_code": "130600000000", "name": "涿州市", "level": "county",
             "province_code": "130000000000", "city_code": "130600000000", "county_code": None,
             "township_code": None, "lon": 115.97, "lat": 39.48}]
        villages = []
        for t in range(TOWNSHIPS):
            tcode = f"130681{101 + t:03d}000"
            divs.append({**base, "code": tcode, "parent_code": "130681000000", "name": f"第{t + 1}镇",
                         "level": "township", "province_code": "130000000000", "city_code": "130600000000",
                         "county_code": "130681000000", "township_code": None, "lon": 115.9, "lat": 39.4})
            for v in range(VILLAGES_PER_TOWNSHIP):
                vcode = f"130681{101 + t:03d}{v + 1:03d}"
                villages.append(vcode)
                divs.append({**base, "code": vcode, "parent_code": tcode, "name": f"{t + 1}镇{v + 1}村",
                             "level": "village", "province_code": "130000000000", "city_code": "130600000000",
                             "county_code": "130681000000", "township_code": tcode,
                             "lon": round(rng.uniform(115.77, 116.18), 5), "lat": round(rng.uniform(39.35, 39.63), 5)})
        db.session.execute(insert(Division), divs)
        people = [{"name": "县应急办", "phone": COUNTY_PHONE, "role": "county", "division_code": "130681000000",
                   "on_duty": True, "active": True, "password_hash": hash_password(PASSWORD), "created_at": now}]
        people += [{"name": f"第{t + 1}镇值班员", "phone": f"+86139100{t:05d}", "role": "township",
                    "division_code": f"130681{101 + t:03d}000", "on_duty": True, "active": True,
                    "password_hash": None, "created_at": now} for t in range(TOWNSHIPS)]
        db.session.execute(insert(Person), people)
        db.session.execute(insert(Event), [{"id": 1, "county_code": "130681000000", "hazard": "flood",
                                            "name": "2026-11-28 涿州市 洪涝", "status": "open", "started_at": now
                                            - timedelta(days=2), "last_activity_at": now, "daily_report": True,
                                            "daily_report_since": date.today() - timedelta(days=1)}])
        incidents, reports, escalations, recipients, sms = [], [], [], [], []
        rid = 0
        for i, vcode in enumerate(villages, start=1):
            hazard = HAZARD_ROTATION[i % len(HAZARD_ROTATION)]
            figures = {"affected": rng.randint(10, 3000), "relocated": rng.randint(0, 800),
                       "deaths": 1 if rng.random() < 0.02 else 0, "injured": rng.randint(0, 5),
                       "houses_damaged": rng.randint(0, 40), "crop_ha": round(rng.uniform(0, 80), 1)}
            opened = now - timedelta(hours=rng.uniform(2, 48))
            for k in range(REPORTS_PER_INCIDENT):
                rid += 1
                at = opened + (now - opened) * (k / REPORTS_PER_INCIDENT)
                reports.append({"id": rid, "kind": "initial" if k == 0 else "update", "hazard": hazard,
                                "village_code": vcode, "township_code": vcode[:9] + "000",
                                "county_code": "130681000000", "narrative": "河水上涨 村内积水" if k % 3 else None,
                                "channel": "sms", "status": rng.choice(("received", "accepted", "received")),
                                "flags": ["late"] if rng.random() < 0.02 else [], "incident_id": i, "event_id": 1,
                                "received_at": at, "report_date": at.date(), **figures})
            incidents.append({"id": i, "village_code": vcode, "township_code": vcode[:9] + "000",
                              "county_code": "130681000000", "hazard": hazard, "status": "open", "event_id": 1,
                              "opened_at": opened, "last_report_at": now - timedelta(minutes=rng.uniform(0, 600)),
                              "report_count": REPORTS_PER_INCIDENT, "latest_report_id": None,
                              "flags": reports[-1]["flags"], **figures})
            status = rng.choice(("acknowledged", "acknowledged", "open", "escalated"))
            escalations.append({"id": i, "rule": "E1", "level": "township", "division_code": vcode[:9] + "000",
                                "village_code": vcode, "report_id": rid - REPORTS_PER_INCIDENT + 1, "incident_id": i,
                                "event_id": 1, "status": status, "created_at": opened,
                                "deadline_at": opened + timedelta(minutes=30),
                                "acknowledged_at": opened + timedelta(minutes=9) if status == "acknowledged" else None,
                                "acknowledged_by_id": 2 + int(vcode[6:9]) - 101 if status == "acknowledged" else None})
            recipients.append({"escalation_id": i, "person_id": 2 + int(vcode[6:9]) - 101})
            sms.append({"to_phone": f"+86139100{int(vcode[6:9]) - 101:05d}", "body": "【灾情】…",
                        "purpose": "escalation", "escalation_id": i, "created_at": opened, "attempts": 1,
                        "status": "failed" if rng.random() < 0.03 else "delivered"})
        db.session.execute(insert(Incident), incidents)
        for start in range(0, len(reports), 5000):
            db.session.execute(insert(Report), reports[start:start + 5000])
        # incidents and reports point at each other: the latest report is set once both exist
        db.session.execute(text(f"UPDATE incidents SET latest_report_id = id * {REPORTS_PER_INCIDENT}"))
        db.session.execute(insert(Escalation), escalations)
        db.session.execute(insert(escalation_recipients), recipients)
        db.session.execute(insert(OutboundSms), sms)
        for table in ("incidents", "reports", "escalations", "events", "people", "outbound_sms"):
            db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                    f"(SELECT max(id) FROM {table}))"))
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        return {"villages": len(villages), "incidents": len(incidents), "reports": len(reports),
                "escalations": len(escalations)}


def existing() -> dict:
    """Counts of the data a previous run built (for --reuse)."""
    import psycopg

    with psycopg.connect(DB_URL) as conn:
        count = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 (fixed names)
                 for t in ("incidents", "reports", "escalations")}
        count["villages"] = conn.execute("SELECT count(*) FROM divisions WHERE level = 'village'").fetchone()[0]
    return count


def serve() -> subprocess.Popen:
    try:
        requests.get(f"http://127.0.0.1:{PORT}/login", timeout=2)
        raise SystemExit(f"something already answers on port {PORT} (a stale server?): set BENCH_PORT")
    except requests.RequestException:
        pass
    proc = subprocess.Popen([str(ROOT / ".venv/bin/gunicorn"), "-w", "2", "-b", f"127.0.0.1:{PORT}", "wsgi:app"],
                            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(100):
        if proc.poll() is not None:
            break
        try:
            requests.get(f"http://127.0.0.1:{PORT}/login", timeout=5)
            return proc
        except requests.RequestException:
            time.sleep(0.2)
    proc.terminate()
    proc.wait(timeout=20)
    raise SystemExit("gunicorn did not start: " + proc.stderr.read().decode()[-2000:])


def login(session: requests.Session) -> None:
    base = f"http://127.0.0.1:{PORT}"
    html = session.get(base + "/login").text
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    r = session.post(base + "/login", data={"phone": COUNTY_PHONE, "password": PASSWORD, "csrf_token": token},
                     allow_redirects=False)
    assert r.status_code == 302, r.text[:300]


def new_report(conn, rng: random.Random) -> None:
    """A nil report from a random village, committed: what happens before every live refresh."""
    village = f"130681{rng.randint(101, 100 + TOWNSHIPS):03d}{rng.randint(1, VILLAGES_PER_TOWNSHIP):03d}"
    conn.execute("INSERT INTO reports (kind, village_code, township_code, county_code, channel, status, flags, "
                 "received_at) VALUES ('nil', %s, %s, '130681000000', 'sms', 'received', '[]', now())",
                 (village, village[:9] + "000"))


def timed(session: requests.Session, path: str, n: int, before=None, label: str | None = None) -> dict:
    url = f"http://127.0.0.1:{PORT}{path}"
    for _ in range(2):
        session.get(url).raise_for_status()  # warm-up (connection pools, template cache)
    samples, size = [], 0
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        r = session.get(url)
        samples.append((time.perf_counter() - t0) * 1000)
        r.raise_for_status()
        size = len(r.content)
    samples.sort()
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    return {"path": label or path, "p50": statistics.median(samples), "p95": p95, "kb": size / 1024}


LOAD_AT_START = os.getloadavg()[0]


def main() -> None:
    global LOAD_AT_START
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--reuse", action="store_true", help="keep the data of the previous run")
    args = parser.parse_args()
    t0 = time.perf_counter()
    counts = existing() if args.reuse else build()
    print(f"built {counts} in {time.perf_counter() - t0:.1f} s", flush=True)
    proc = serve()
    LOAD_AT_START = os.getloadavg()[0]
    try:
        s = requests.Session()
        login(s)
        cursor = re.search(r'data-cursor="([^"]+)"', s.get(f"http://127.0.0.1:{PORT}/board").text).group(1)
        paths = ["/board", "/board?sort=severity", "/board?q=%E6%9D%91%E5%86%85&township=130681105000",
                 "/board/map.json", "/board/incidents/2500.json", f"/board/changes?since={cursor}",
                 "/board/summary.json", "/board/review",
                 "/board/export/townships.xlsx", "/board/export/incidents.geojson"]
        results = [timed(s, p, args.requests) for p in paths]
        import psycopg

        rng = random.Random(7)
        with psycopg.connect(DB_URL, autocommit=True) as conn:
            results.insert(1, timed(s, "/board", args.requests, before=lambda: new_report(conn, rng),
                                    label="/board just after a new report (cold caches)"))
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    lines = [f"| {r['path'] if ' ' in r['path'] else '`' + r['path'] + '`'} | {r['p50']:.0f} | {r['p95']:.0f} "
             f"| {r['kb']:.0f} |" for r in results]
    for line in lines:
        print(line)
    report(counts, args.requests, lines)


def report(counts: dict, n: int, lines: list[str]) -> None:
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text() if readme.exists() else "# Benchmarks\n"
    section = "\n".join([
        "## bench-board", "",
        f"Machine: 2 cores / 24 GiB ({platform.platform()}), shared with other work; "
        f"run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average at start {LOAD_AT_START:.1f}. "
        "PostgreSQL, gunicorn -w 2, sequential requests "
        f"as a logged-in county office ({n} timed after 2 warm-ups each; client-side wall time).",
        f"Data: one county, {counts['villages']} villages in 20 townships, {counts['incidents']} open incidents "
        f"(one daily-report event), {counts['reports']} reports, {counts['escalations']} escalations.", "",
        "| request | p50 ms | p95 ms | size KiB |", "| --- | ---: | ---: | ---: |", *lines, "",
        "The per-township reporting status (5,000 villages) is cached per process under a key that "
        "changes with every report, so the row \"just after a new report\" is the cost a live board "
        "pays on each refresh; the others are repeated views. The GeoJSON export (3 MB) is a download, "
        "not part of the board.", "",
        "Reproduce: `make bench-board` (BOARD_BENCH_DATABASE_URL, default "
        "postgresql://postgres@127.0.0.1/zb_board, is dropped and rebuilt), or "
        "`.venv/bin/python bench/board.py --reuse` on the data of the previous run.", ""])
    pattern = re.compile(r"## bench-board\n.*?(?=\n## |\Z)", re.S)
    text = pattern.sub(section.rstrip("\n"), text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    readme.write_text(text)


if __name__ == "__main__":
    main()
