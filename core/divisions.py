"""Division service: import of the statistical division list and county outlines, look-ups."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core.extensions import db
from core.geo import bbox, gcj02_to_wgs84, in_china, map_geometry, to_wgs84
from core.importing import ImportProblems, read_csv, refresh_planner_statistics
from core.models import LEVELS, Boundary, Division

CODE_RE = re.compile(r"^\d{12}$")
_ANCESTOR_FIELDS = {"province": "province_code", "city": "city_code",
                    "county": "county_code", "township": "township_code"}


def upsert(model, rows: list[dict], key: str, chunk: int = 5000) -> None:
    """Insert or update rows by primary key, on SQLite and PostgreSQL alike (every row the same keys).

    One statement executed many times (DB-API executemany): a single multi-VALUES statement of
    thousands of rows spends most of its time being compiled by SQLAlchemy.
    """
    if not rows:
        return
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(model.__table__)
    columns = [c for c in rows[0] if c != key]
    stmt = stmt.on_conflict_do_update(index_elements=[key], set_={c: stmt.excluded[c] for c in columns})
    connection = db.session.connection()
    for start in range(0, len(rows), chunk):
        connection.execute(stmt, rows[start : start + chunk])


def import_divisions(path: str | Path, datum: str = "gcj02") -> dict[str, int]:
    """Import (or re-import) a division CSV. All-or-nothing; returns counts per level.

    The default datum is GCJ-02 because that is what Chinese division lists carry (the
    National Bureau list and its derivatives); pass ``wgs84`` for GPS-surveyed files.
    """
    problems = ImportProblems(str(path))
    rows: dict[str, dict] = {}
    lines: dict[str, int] = {}
    for line, row in read_csv(path, ("code", "parent_code", "name", "level")):
        code, parent, level, name = row["code"], row["parent_code"], row["level"].lower(), row["name"]
        if not CODE_RE.match(code):
            problems.add(line, f"code {code!r} is not a 12-digit division code")
            continue
        if code in rows:
            problems.add(line, f"duplicate code {code} (first on line {lines[code]})")
            continue
        if level not in LEVELS:
            problems.add(line, f"unknown level {row['level']!r}; expected one of {', '.join(LEVELS)}")
            continue
        if parent and not CODE_RE.match(parent):
            problems.add(line, f"parent_code {parent!r} is not a 12-digit division code")
            continue
        if not parent and level != "province":
            problems.add(line, f"a {level} needs a parent_code")
            continue
        if parent and level == "province":
            problems.add(line, "a province has no parent_code")
            continue
        if not name or len(name) > 100:
            problems.add(line, "name is empty" if not name else f"name is longer than 100 characters ({len(name)})")
            continue
        lon = lat = None
        if row.get("lon") or row.get("lat"):
            try:
                lon, lat = float(row["lon"]), float(row["lat"])
            except (TypeError, ValueError):
                problems.add(line, f"coordinates {row.get('lon')!r},{row.get('lat')!r} are not numbers")
                continue
            if not in_china(lon, lat):
                problems.add(line, f"coordinates {lon},{lat} are outside China (lon,lat order?)")
                continue
            lon, lat = to_wgs84(lon, lat, datum)
        lines[code] = line
        rows[code] = {"code": code, "parent_code": parent or None, "name": name, "level": level,
                      "urban_rural_code": row.get("urban_rural_code") or None,
                      "virtual": row.get("virtual", "0") in ("1", "true", "yes"),
                      "lon": lon, "lat": lat}

    existing = {d.code: (d.level, d.parent_code) for d in db.session.execute(
        select(Division.code, Division.level, Division.parent_code)).all()}

    def level_parent(code: str) -> tuple[str, str | None] | None:
        if code in rows:
            return rows[code]["level"], rows[code]["parent_code"]
        return existing.get(code)

    for code, row in rows.items():
        parent = row["parent_code"]
        if parent is None:
            continue
        known = level_parent(parent)
        if known is None:
            problems.add(lines[code], f"parent {parent} of {code} is neither in the file nor imported")
        elif LEVELS.index(known[0]) != LEVELS.index(row["level"]) - 1:
            # Strictly one level up: a village must have a township (scope, township
            # responders and the township_code column all depend on it).
            expected = LEVELS[LEVELS.index(row["level"]) - 1]
            problems.add(lines[code], f"a {row['level']} must sit under a {expected}, "
                                      f"not under the {known[0]} {parent}")
    if problems:
        problems.problems.sort()
        raise problems

    for row in rows.values():
        ancestors = {f: None for f in _ANCESTOR_FIELDS.values()}
        current, seen = row["parent_code"], set()
        while current and current not in seen:
            seen.add(current)
            lvl, parent = level_parent(current)
            ancestors[_ANCESTOR_FIELDS[lvl]] = current
            current = parent
        row.update(ancestors)
    ordered = sorted(rows.values(), key=lambda r: LEVELS.index(r["level"]))
    upsert(Division, ordered, "code")
    refresh_planner_statistics(Division)
    counts = {lvl: 0 for lvl in LEVELS}
    for row in rows.values():
        counts[row["level"]] += 1
    return counts


def import_boundaries(paths: list[str | Path], datum: str = "gcj02",
                      skip_unknown: bool = False) -> int:
    """Import county outlines: each file one GeoJSON geometry named by its 6-digit county code.

    With `skip_unknown`, files for divisions that are not imported are passed over (a province
    folder often holds outlines of counties a deployment does not serve).
    """
    problems = ImportProblems("boundaries", unit="file")
    found: list[dict] = []
    for number, path in enumerate(paths, start=1):
        path = Path(path)
        stem = path.stem
        if not re.fullmatch(r"\d{6}", stem):
            problems.add(number, f"{path.name}: the file name must be a 6-digit county code")
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.add(number, f"{path.name}: not a UTF-8 JSON file ({exc})")
            continue
        if isinstance(data, dict) and data.get("type") == "Feature":
            data = data.get("geometry") or {}
        if not isinstance(data, dict) or data.get("type") not in ("Polygon", "MultiPolygon"):
            problems.add(number, f"{path.name}: expected a Polygon or MultiPolygon geometry")
            continue
        problem = _geometry_problem(data)
        if problem:
            problems.add(number, f"{path.name}: {problem}")
            continue
        code = stem + "000000"
        if db.session.get(Division, code) is None:
            if skip_unknown:
                continue
            problems.add(number, f"{path.name}: division {code} is not imported")
            continue
        geometry = map_geometry(data, gcj02_to_wgs84) if datum == "gcj02" else data
        min_lon, min_lat, max_lon, max_lat = bbox(geometry)
        found.append({"division_code": code, "geometry": geometry, "min_lon": min_lon,
                      "min_lat": min_lat, "max_lon": max_lon, "max_lat": max_lat})
    if problems:
        raise problems
    upsert(Boundary, found, "division_code", chunk=50)
    db.session.commit()
    return len(found)


def _geometry_problem(geometry: dict) -> str | None:
    """Why a Polygon/MultiPolygon cannot be used as an outline (None when it can)."""
    coords = geometry.get("coordinates")
    polygons = coords if geometry["type"] == "MultiPolygon" else [coords]
    if not isinstance(polygons, list) or not polygons or not coords:
        return "the geometry has no coordinates"
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            return "a polygon has no rings"
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4:
                return "a ring needs at least 4 positions"
            for pos in ring:
                if not (isinstance(pos, list) and len(pos) >= 2 and all(
                        isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])):
                    return f"position {json.dumps(pos, ensure_ascii=False)[:40]} is not [lon, lat]"
                if not in_china(pos[0], pos[1]):
                    return f"position {pos[0]},{pos[1]} is outside China (lon,lat order?)"
    return None


def get(code: str) -> Division | None:
    return db.session.get(Division, code)


def descendants_clause(column, division: Division):
    """SQL condition "column holds the code of `division` or of a division below it"."""
    if division.level == "village":
        return column == division.code
    field = getattr(Division, f"{division.level}_code")
    return column.in_(select(Division.code).where((field == division.code) | (Division.code == division.code)))


def children(division: Division) -> list[Division]:
    return list(db.session.scalars(
        select(Division).where(Division.parent_code == division.code).order_by(Division.code)))


def below(division: Division, level: str) -> list[Division]:
    """All divisions of `level` under `division` (itself when it is of that level)."""
    if division.level == level:
        return [division]
    field = getattr(Division, f"{division.level}_code")
    return list(db.session.scalars(
        select(Division).where(field == division.code, Division.level == level).order_by(Division.code)))
