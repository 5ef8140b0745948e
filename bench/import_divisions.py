"""bench-import: the whole Hebei division list (54,480 rows) into a fresh SQLite file and into
PostgreSQL, through the same code as `flask divisions import` (issue 2: under a minute on each).

    ZAIBAO_DATA=/path/to/shared/data BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1/zaibao_bench \\
        .venv/bin/python bench/import_divisions.py

The data is read where it lies (ZAIBAO_DATA, default ../shared/data beside the repository): the
project does not copy it. The PostgreSQL database is created when missing and its schema is
WIPED and rebuilt from the migrations: point it at a scratch database.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from config import database_url  # noqa: E402
from core import create_app  # noqa: E402
from core.divisions import import_divisions  # noqa: E402
from core.extensions import db  # noqa: E402
from core.models import Division  # noqa: E402


def data_file() -> Path:
    base = Path(os.environ.get("ZAIBAO_DATA", ROOT.parent / "shared" / "data"))
    path = base / "hebei-divisions.csv"
    if not path.exists():
        sys.exit(f"{path} not found: set ZAIBAO_DATA to the folder holding hebei-divisions.csv")
    return path


def ensure_postgres_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}).first():
            conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def bench(label: str, url: str, csv: Path) -> dict:
    app = create_app(None, {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": "redis://127.0.0.1:1/0"})
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"))
        upgrade(revision="heads")
        started = time.perf_counter()
        counts = import_divisions(csv, "gcj02")
        first = time.perf_counter() - started
        started = time.perf_counter()
        import_divisions(csv, "gcj02")  # idempotent re-import: every row an update
        again = time.perf_counter() - started
        rows = sum(counts.values())
        stored = db.session.scalar(select(func.count()).select_from(Division))
        assert stored == rows, (stored, rows)
        db.session.remove()
        db.engine.dispose()
    result = {"label": label, "rows": rows, "first": first, "again": again}
    print(f"{label:<11} {rows} rows  first import {first:6.1f} s ({rows / first:8.0f} rows/s)  "
          f"re-import {again:6.1f} s ({rows / again:8.0f} rows/s)", flush=True)
    return result


def main() -> None:
    csv = data_file()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench("SQLite", f"sqlite:///{tmp}/bench.db", csv))
    pg = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/zaibao_bench")
    pg_url = database_url(pg)
    ensure_postgres_database(pg_url)
    results.append(bench("PostgreSQL", pg_url, csv))
    slow = [r["label"] for r in results if max(r["first"], r["again"]) >= 60]
    if slow:
        sys.exit(f"over a minute on {', '.join(slow)} (issue 2 requires under a minute)")


if __name__ == "__main__":
    main()
