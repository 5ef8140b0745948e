"""bench-shelters: nearest-shelter search among 20,000 shelters (SPEC §9: < 5 ms per query).

Builds a fresh database (BENCH_SHELTERS_DATABASE_URL, default a temporary SQLite file; give a
PostgreSQL URL of a database you own: its public schema is DROPPED), loads a province-sized
registry (20,000 shelters clustered around 200 townships across Hebei, every status, random
occupancy), then times `shelters.search.nearest` (index token check + grid walk + database
check of the candidates' status and free places) and the HTTP route
`GET /api/v1/shelters/nearest` through the Flask test client. Prints p50/p95/p99.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import text  # noqa: E402

from config import database_url  # noqa: E402
from core import create_app  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Division, Person  # noqa: E402
from core.people import create_token  # noqa: E402

SHELTERS = int(os.environ.get("BENCH_SHELTERS", "20000"))
QUERIES = int(os.environ.get("BENCH_QUERIES", "2000"))
HTTP_QUERIES = int(os.environ.get("BENCH_HTTP_QUERIES", "500"))
BBOX = (113.5, 36.1, 119.8, 42.6)  # Hebei, roughly


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def setup(url: str):
    app = create_app(None, {"SQLALCHEMY_DATABASE_URI": url, "SMS_BACKEND": "console", "TESTING": True})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
        upgrade(revision="heads")
    return app


def load(rng: random.Random) -> str:
    from shelters import search, service
    from shelters.models import Shelter

    base = dict(province_code=None, city_code=None, county_code=None, township_code=None)
    db.session.add(Division(code="130000000000", name="河北省", level="province", **base))
    db.session.add(Division(code="130100000000", parent_code="130000000000", name="市", level="city",
                            **{**base, "province_code": "130000000000"}))
    db.session.add(Division(code="130101000000", parent_code="130100000000", name="县", level="county",
                            **{**base, "province_code": "130000000000", "city_code": "130100000000"}))
    townships = []
    for t in range(200):
        code = f"130101{t + 1:03d}000"
        lon, lat = rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])
        db.session.add(Division(code=code, parent_code="130101000000", name=f"镇{t}", level="township", lon=lon,
                                lat=lat, **{**base, "province_code": "130000000000", "city_code": "130100000000",
                                            "county_code": "130101000000"}))
        townships.append((code, lon, lat))
    db.session.flush()
    rows = []
    statuses = ["open"] * 5 + ["standby"] * 3 + ["full", "closed"]
    for i in range(SHELTERS):
        code, tlon, tlat = rng.choice(townships)
        capacity = rng.randint(50, 3000)
        status = rng.choice(statuses)
        rows.append({"code": f"B{i}", "name": f"避难场所{i}", "level": "township", "shelter_class": "emergency",
                     "type": "school", "division_code": code, "lon": tlon + rng.gauss(0, 0.08),
                     "lat": tlat + rng.gauss(0, 0.08), "capacity": capacity,
                     "occupancy": capacity if status == "full" else rng.randint(0, capacity),
                     "status": status, "facilities": []})
    db.session.execute(Shelter.__table__.insert(), [{**r, "class": r.pop("shelter_class"),
                                                      "created_at": service.utcnow(),
                                                      "updated_at": service.utcnow()} for r in rows])
    search.bump_index()
    admin = Person(name="bench", phone="+8613600009999", role="admin", division_code="130000000000")
    db.session.add(admin)
    db.session.commit()
    return create_token(admin)


def main() -> None:
    from shelters import search

    url = os.environ.get("BENCH_SHELTERS_DATABASE_URL") or f"sqlite:///{tempfile.mkdtemp()}/bench-shelters.db"
    url = database_url(url)
    app = setup(url)
    rng = random.Random(21734)
    with app.app_context():
        token = load(rng)
        started = time.perf_counter()
        search.nearest(116.0, 39.5)  # cold: builds this process's index
        cold_ms = (time.perf_counter() - started) * 1000
        queries = [(rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3]), rng.choice([1, 1, 50, 200, 1000]))
                   for _ in range(QUERIES)]
        times, cpu = [], []
        for lon, lat, people in queries:
            t0, c0 = time.perf_counter(), time.process_time()
            hits = search.nearest(lon, lat, people=people, limit=3)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            assert hits, "every query should find a shelter"
            db.session.rollback()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    http, http_cpu = [], []
    for lon, lat, people in queries[:HTTP_QUERIES]:
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(f"/api/v1/shelters/nearest?lat={lat}&lon={lon}&people={people}&limit=3",
                              headers=headers)
        http.append((time.perf_counter() - t0) * 1000)
        http_cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200, response.get_data(as_text=True)
    dialect = "postgresql" if url.startswith("postgresql") else "sqlite"
    load_avg = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"bench-shelters: {SHELTERS} shelters, {dialect}, python {sys.version.split()[0]}, "
          f"load average {load_avg} on {os.cpu_count()} cores")
    print(f"  index build (first query of a process): {cold_ms:.0f} ms")
    print(f"  search.nearest, {QUERIES} queries (limit 3, people 1–1000): p50 {pct(times, 50):.2f} ms, "
          f"p95 {pct(times, 95):.2f} ms, p99 {pct(times, 99):.2f} ms, mean {statistics.mean(times):.2f} ms")
    print(f"    CPU time of this process per query (excludes the database server and time spent waiting "
          f"for a core): p50 {pct(cpu, 50):.2f} ms, p95 {pct(cpu, 95):.2f} ms")
    print(f"  GET /api/v1/shelters/nearest, {HTTP_QUERIES} requests (test client, bearer auth): "
          f"p50 {pct(http, 50):.2f} ms, p95 {pct(http, 95):.2f} ms, p99 {pct(http, 99):.2f} ms")
    print(f"    CPU time of this process per request: p50 {pct(http_cpu, 50):.2f} ms, p95 {pct(http_cpu, 95):.2f} ms")


if __name__ == "__main__":
    main()
