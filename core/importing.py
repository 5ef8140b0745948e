"""What every file import shares: reading CSV safely and reporting every bad line at once.

Imports are all-or-nothing: they collect every problem with its line (or feature) number,
raise `ImportProblems` before writing anything, and write inside one transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

from core.extensions import db


@dataclass
class ImportProblems(Exception):
    """Raised with every problem found; nothing has been written when it is raised."""

    source: str
    problems: list[tuple[int, str]] = field(default_factory=list)
    unit: str = "line"

    def add(self, line: int, reason: str) -> None:
        self.problems.append((line, reason))

    def __bool__(self) -> bool:
        return bool(self.problems)

    def __str__(self) -> str:
        shown = [f"{self.source}: {self.unit} {line}: {reason}" for line, reason in self.problems[:50]]
        if len(self.problems) > 50:
            shown.append(f"... and {len(self.problems) - 50} more problems")
        return "\n".join(shown) + "\nnothing was imported"


def read_text(path: str | Path) -> str:
    """Read a UTF-8 file (BOM tolerated); a GBK/other-encoded or empty file is a clear error."""
    raw = Path(path).read_bytes()
    problems = ImportProblems(str(path))
    if not raw.strip():
        problems.add(1, "the file is empty")
        raise problems
    if raw.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):  # .xlsx (zip) / .xls (OLE)
        problems.add(1, "this is a spreadsheet (Excel) file, not CSV: save it as 'CSV UTF-8'")
        raise problems
    if b"\x00" in raw:  # PostgreSQL cannot store NUL, and no division or person name holds one
        problems.add(raw[: raw.index(b"\x00")].count(b"\n") + 1,
                     "the file contains NUL bytes (UTF-16, or not a text file): save it as UTF-8 CSV")
        raise problems
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        hint = ""
        try:
            raw.decode("gb18030")
            hint = " (it looks like GBK/GB18030: save it as UTF-8)"
        except UnicodeDecodeError:
            pass
        problems.add(line, f"the file is not UTF-8{hint}")
        raise problems from None


def read_csv(path: str | Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row with stripped values); raise if the header lacks a column."""
    text = read_text(path)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    reader.fieldnames = header
    missing = [c for c in required if c not in header]
    if missing:
        problems = ImportProblems(str(path))
        problems.add(1, f"missing column(s): {', '.join(missing)}; expected {','.join(required)}")
        raise problems
    rows = 0
    for row in reader:
        rows += 1
        clean = {k: (v or "").strip() for k, v in row.items() if k is not None}
        if not any(clean.values()):
            continue
        yield reader.line_num, clean
    if rows == 0:
        problems = ImportProblems(str(path))
        problems.add(2, "the file has a header but no rows")
        raise problems


def refresh_planner_statistics(*models) -> None:
    """After a bulk load, let PostgreSQL's planner learn the tables' new contents (ANALYZE).

    Until autovacuum gets to a table (up to a minute, or never where it is off) the planner
    plans with what it knew before the load: in the province drill, with 54,456 people it had
    never seen, it answered each escalation's recipients by reading every person (46 ms) instead
    of through the primary key, and PostgreSQL became the box's biggest user of CPU. Commits first
    (what was loaded must be visible to ANALYZE); SQLite needs nothing."""
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("ANALYZE " + ", ".join(model.__table__.name for model in models)))
        db.session.commit()
