"""`flask shelters import` / `export`: GeoJSON (RFC 7946) and CSV in, GeoJSON out.

All-or-nothing: every row is checked first and every problem reported with its line (CSV) or
feature number (GeoJSON); nothing is written unless all rows are good. Idempotent on `code`:
re-importing a file updates the same shelters. GeoJSON is WGS84 by definition (RFC 7946), so
`--datum` defaults to wgs84; pass gcj02 for coordinates taken from Chinese web maps.

A record's problems (`check_record`) are localised (Chinese msgids, English in the catalogue):
the shelter form shows them in the page's language; the import command reports in English, like
the file-level problems of `core.importing` beside them.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core import audit
from core.divisions import descendants_clause
from core.extensions import db
from core.geo import in_china, point_in_geometry, to_wgs84
from core.importing import ImportProblems, read_csv, read_text, refresh_planner_statistics
from core.models import Boundary, Division, Person, utcnow
from core.people import try_normalise_phone
from shelters import rules, search, service
from shelters.models import (
    CLASS_NAMES,
    FACILITY_NAMES,
    LEVEL_NAMES,
    STATUS_NAMES,
    TYPE_NAMES,
    OccupancyRecord,
    Shelter,
)
from shelters.rules import ShelterStatus

REQUIRED = ("code", "name", "level", "class", "type", "division_code", "lon", "lat")
OPTIONAL = ("effective_area_m2", "capacity", "address", "occupancy", "status", "facilities",
            "manager_name", "manager_phone")
# Properties our own export adds: accepted and ignored, so an export re-imports cleanly.
EXPORT_ONLY = ("id", "division_name", "free", "stale", "updated_at", "occupancy_updated_at", "url")
CODE_RE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{0,39}$")
_SEPARATORS = re.compile(r"[;|,、，；\s]+")


def _choice(value, labels: dict, field: str) -> str:
    """A key (`school`) or its Chinese label (`学校`)."""
    text = str(value or "").strip()
    if text.lower() in labels:
        return text.lower()
    for key, label in labels.items():
        if text == label:
            return key
    raise ValueError(_l("%(field)s“%(value)s”不是以下之一：%(choices)s", field=field, value=text,
                        choices=", ".join(labels)))


def _number(value, field: str, integer: bool = False) -> float | int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(_l("%(field)s“%(value)s”不是数字", field=field, value=value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(_l("%(field)s“%(value)s”不是数字", field=field, value=value)) from None
    if not math.isfinite(number):
        raise ValueError(_l("%(field)s“%(value)s”不是有限的数字", field=field, value=value))
    if integer:
        if not number.is_integer():
            raise ValueError(_l("%(field)s“%(value)s”不是整数", field=field, value=value))
        return int(number)
    return number


def _facilities(value) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else _SEPARATORS.split(str(value).strip())
    return sorted({_choice(item, FACILITY_NAMES, "facility") for item in items if str(item).strip()})


class _Context:
    """What row checks need from the database: preloaded for a file, looked up for one form."""

    def __init__(self, preload: bool = True) -> None:
        self.preload = preload
        self.divisions: dict[str, Division] = {}
        self.outlines: dict[str, dict | None] = {}
        self.existing: dict[str, Shelter] = {}
        if preload:
            self.divisions = {d.code: d for d in db.session.scalars(select(Division))}
            self.outlines = {b.division_code: b.geometry for b in db.session.scalars(select(Boundary))}
            self.existing = {s.code: s for s in db.session.scalars(select(Shelter))}

    def division(self, code: str) -> Division | None:
        return self.divisions.get(code) if self.preload else db.session.get(Division, code)

    def shelter(self, code: str) -> Shelter | None:
        return self.existing.get(code) if self.preload else service.by_code(code)

    def outline_for(self, division: Division) -> tuple[str, dict] | None:
        county = division.code if division.level == "county" else division.county_code
        if not county:
            return None
        if not self.preload and county not in self.outlines:
            boundary = db.session.get(Boundary, county)
            self.outlines[county] = boundary.geometry if boundary else None
        geometry = self.outlines.get(county)
        return (county, geometry) if geometry else None


def check_record(record: dict, ctx: _Context, datum: str, current: Shelter | None = None) -> dict:
    """One record (values as read) → clean column values; raises ValueError with the reason.

    `current` is the shelter being edited (its occupancy bounds the capacity); by default the
    existing shelter with the record's code.
    """
    missing = [f for f in REQUIRED if record.get(f) is None or str(record.get(f)).strip() == ""]
    if missing:
        raise ValueError(_l("缺少%(fields)s", fields=", ".join(missing)))
    code = service.normalise_code(str(record["code"]))
    if not CODE_RE.match(code):
        raise ValueError(_l("编号“%(code)s”只能由字母、数字、-或_组成（最多40个）", code=record["code"]))
    name = str(record["name"]).strip()
    if len(name) > 100:
        raise ValueError(_l("名称超过100个字"))
    division = ctx.division(str(record["division_code"]).strip())
    if division is None:
        raise ValueError(_l("区划“%(code)s”尚未导入", code=record["division_code"]))
    lon, lat = _number(record["lon"], "lon"), _number(record["lat"], "lat")
    if not in_china(lon, lat):
        raise ValueError(_l("坐标%(lon)s,%(lat)s不在中国境内（经度、纬度是否颠倒？）", lon=lon, lat=lat))
    lon, lat = to_wgs84(lon, lat, datum)
    outline = ctx.outline_for(division)
    if outline is not None and not point_in_geometry(lon, lat, outline[1]):
        county = ctx.division(outline[0]).name
        raise ValueError(_l("坐标%(lon)s,%(lat)s不在%(county)s境内", lon=lon, lat=lat, county=county))
    area = _number(record.get("effective_area_m2"), "effective_area_m2")
    if area is not None and area < 0:
        raise ValueError(_l("有效面积effective_area_m2 %(area)s为负数", area=f"{area:g}"))
    capacity = _number(record.get("capacity"), "capacity", integer=True)
    if capacity is None:
        capacity = rules.default_capacity(area)
        if capacity is None:
            raise ValueError(_l("请填写容量capacity或有效面积effective_area_m2（容量 = 面积 ÷ 1.5 m²）"))
    if capacity < 0:
        raise ValueError(_l("容量capacity %(n)s为负数", n=capacity))
    occupancy = _number(record.get("occupancy"), "occupancy", integer=True)
    if occupancy is not None and occupancy < 0:
        raise ValueError(_l("入住人数occupancy %(n)s为负数", n=occupancy))
    current = current or ctx.shelter(code)
    effective = occupancy if occupancy is not None else (current.occupancy if current else 0)
    if capacity < effective:
        raise ValueError(_l("容量%(capacity)s小于入住人数%(occupancy)s", capacity=capacity, occupancy=effective))
    status = _choice(record["status"], STATUS_NAMES, "status") if record.get("status") else None
    phone = str(record.get("manager_phone") or "").strip() or None
    if phone is not None:
        normalised = try_normalise_phone(phone)
        if normalised is None:
            raise ValueError(_l("管理员电话manager_phone“%(phone)s”不是电话号码", phone=phone))
        phone = normalised
    address = str(record.get("address") or "").strip() or None
    if address and len(address) > 200:
        raise ValueError(_l("地址超过200个字"))
    return {"code": code, "name": name, "level": _choice(record["level"], LEVEL_NAMES, "level"),
            "shelter_class": _choice(record["class"], CLASS_NAMES, "class"),
            "type": _choice(record["type"], TYPE_NAMES, "type"), "division_code": division.code,
            "address": address, "lon": round(lon, 7), "lat": round(lat, 7), "effective_area_m2": area,
            "capacity": capacity, "occupancy": occupancy, "status": status,
            "facilities": _facilities(record.get("facilities")),
            "manager_name": str(record.get("manager_name") or "").strip() or None, "manager_phone": phone}


def _records_csv(path: str | Path, problems: ImportProblems) -> list[tuple[int, dict]]:
    records = list(read_csv(path, REQUIRED))
    if records:
        unknown = [c for c in records[0][1] if c not in REQUIRED + OPTIONAL + EXPORT_ONLY]
        if unknown:
            problems.add(1, f"unknown column(s): {', '.join(unknown)}")
    return records


def _records_geojson(path: str | Path, problems: ImportProblems) -> list[tuple[int, dict]]:
    text = read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        structural = ImportProblems(str(path))
        structural.add(exc.lineno, f"not valid JSON: {exc.msg}")
        raise structural from None
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        structural = ImportProblems(str(path))
        structural.add(1, "expected a GeoJSON FeatureCollection with a features list")
        raise structural
    if not data["features"]:
        problems.add(1, "the FeatureCollection has no features")
    records = []
    for number, feat in enumerate(data["features"], start=1):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            problems.add(number, "not a GeoJSON Feature")
            continue
        geometry, properties = feat.get("geometry"), feat.get("properties")
        if not isinstance(properties, dict):
            problems.add(number, "properties missing (expected an object)")
            continue
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            kind = geometry.get("type") if isinstance(geometry, dict) else geometry
            problems.add(number, f"geometry must be a Point, not {kind}")
            continue
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) not in (2, 3) or not all(
                isinstance(c, int | float) and not isinstance(c, bool) for c in coords):
            problems.add(number, f"Point coordinates {coords!r} must be [lon, lat]")
            continue
        unknown = [k for k in properties if k not in REQUIRED + OPTIONAL + EXPORT_ONLY or k in ("lon", "lat")]
        if unknown:
            problems.add(number, f"unknown propert{'y' if len(unknown) == 1 else 'ies'}: {', '.join(unknown)}")
            continue
        records.append((number, {**properties, "lon": coords[0], "lat": coords[1]}))
    return records


def import_shelters(path: str | Path, datum: str = "wgs84", actor: Person | str | None = "cli") -> dict[str, int]:
    """Import a .geojson/.json or .csv file. All-or-nothing; returns created/updated counts."""
    path = Path(path)
    geojson = path.suffix.lower() in (".geojson", ".json") or (
        path.suffix.lower() != ".csv" and path.read_bytes().lstrip()[:1] == b"{")
    problems = ImportProblems(str(path), unit="feature" if geojson else "line")
    records = _records_geojson(path, problems) if geojson else _records_csv(path, problems)
    ctx = _Context()
    clean: list[dict] = []
    first_seen: dict[str, int] = {}
    for number, record in records:
        try:
            row = check_record(record, ctx, datum)
        except ValueError as exc:
            with force_locale("en"):  # the file's other problems (core.importing) are English too
                problems.add(number, str(exc))
            continue
        if row["code"] in first_seen:
            where = "feature" if geojson else "line"
            problems.add(number, f"duplicate code {row['code']} (first at {where} {first_seen[row['code']]})")
            continue
        first_seen[row["code"]] = number
        clean.append(row)
    if problems:
        problems.problems.sort()
        raise problems
    created = updated = 0
    moved = False
    now = utcnow()
    for row in clean:
        occupancy, status = row.pop("occupancy"), row.pop("status")
        shelter = ctx.existing.get(row["code"])
        if shelter is None:
            shelter = Shelter(**row, occupancy=0, status=ShelterStatus.STANDBY, created_at=now, updated_at=now)
            db.session.add(shelter)
            created += 1
            moved = True
        else:
            moved = moved or (shelter.lon, shelter.lat, shelter.division_code, shelter.capacity) != (
                row["lon"], row["lat"], row["division_code"], row["capacity"])
            if occupancy is None and shelter.capacity != row["capacity"]:
                occupancy = shelter.occupancy  # a new capacity may fill or free the shelter
            for key, value in row.items():
                setattr(shelter, key, value)
            shelter.updated_at = now
            updated += 1
        before = (shelter.occupancy, shelter.status)
        new_occupancy, new_status = rules.next_state(shelter.status, shelter.occupancy, shelter.capacity,
                                                     new_occupancy=occupancy, command=status)
        if occupancy is not None and occupancy != before[0]:
            shelter.occupancy_updated_at = now
        shelter.occupancy, shelter.status = new_occupancy, new_status
        if (new_occupancy, new_status) != before and (shelter.id is not None or new_occupancy):
            db.session.flush()
            db.session.add(OccupancyRecord(shelter_id=shelter.id, at=now, actor=str(actor), channel="import",
                                           occupancy_before=before[0], occupancy_after=new_occupancy,
                                           status_before=before[1], status_after=new_status,
                                           note=path.name))
    if moved:
        search.bump_index()
    audit.record("shelters.import", "shelter_file", path.name,
                 after={"created": created, "updated": updated, "codes": [r["code"] for r in clean][:200]},
                 actor=actor)
    refresh_planner_statistics(Shelter, OccupancyRecord)  # commits
    return {"created": created, "updated": updated}


def export_collection(division: Division | None = None, exercise_id: int | None = None) -> dict:
    """Every shelter (or those in `division` and below) as a FeatureCollection."""
    stmt = select(Shelter).order_by(Shelter.code)
    if division is not None:
        stmt = stmt.where(descendants_clause(Shelter.division_code, division))
    shelters = list(db.session.scalars(stmt))
    states = service.states_of(shelters, exercise_id)
    return service.collection([service.feature(s, states[s.id]) for s in shelters])
