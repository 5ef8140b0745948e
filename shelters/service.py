"""Shelter database work: drill-aware state, changes with history and audit, search, GeoJSON.

Nothing here commits: callers (a route, the SMS flow of the reporter, the CLI) own the
transaction, so a change, its history row, its audit entry and an outbox SMS commit together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select, update

from core import audit
from core.db import exercise_clause
from core.extensions import db
from core.models import Division, Person, utcnow
from core.scope import can_access, scope_clause
from drills.models import Exercise
from shelters import rules
from shelters.models import OccupancyRecord, Shelter, ShelterDrillState, ShelterIndexVersion
from shelters.spatial import GridIndex, Point


@dataclass(frozen=True)
class State:
    """A shelter's occupancy and status as seen in real life (exercise None) or in a drill."""

    capacity: int
    occupancy: int
    status: str
    occupancy_updated_at: datetime | None
    updated_at: datetime | None

    @property
    def free(self) -> int:
        return rules.free_places(self.capacity, self.occupancy)

    @property
    def stale(self) -> bool:
        return rules.is_stale(self.status, self.occupancy_updated_at, self.updated_at, utcnow())


def normalise_code(code: str) -> str:
    return (code or "").strip().upper()


def by_code(code: str) -> Shelter | None:
    return db.session.scalar(select(Shelter).where(Shelter.code == normalise_code(code)))


def _overlays(ids: list[int], exercise_id: int | None) -> dict[int, ShelterDrillState]:
    if exercise_id is None or not ids:
        return {}
    rows = db.session.scalars(select(ShelterDrillState).where(
        ShelterDrillState.exercise_id == exercise_id, ShelterDrillState.shelter_id.in_(ids)))
    return {row.shelter_id: row for row in rows}


def _state(shelter: Shelter, overlay: ShelterDrillState | None) -> State:
    if overlay is None:
        return State(shelter.capacity, shelter.occupancy, shelter.status, shelter.occupancy_updated_at,
                     shelter.updated_at)
    return State(shelter.capacity, overlay.occupancy, overlay.status, overlay.occupancy_updated_at,
                 shelter.updated_at)


def state_of(shelter: Shelter, exercise_id: int | None) -> State:
    return _state(shelter, _overlays([shelter.id], exercise_id).get(shelter.id))


def states_of(shelters: list[Shelter], exercise_id: int | None) -> dict[int, State]:
    overlays: dict[int, ShelterDrillState] = {}
    ids = [s.id for s in shelters]
    for start in range(0, len(ids), 900):
        overlays.update(_overlays(ids[start:start + 900], exercise_id))
    return {s.id: _state(s, overlays.get(s.id)) for s in shelters}


def exercise_for(person: Person, exercise_id: int | None) -> Exercise | None:
    """The exercise a viewer chose, if it exists and covers or lies within their scope."""
    if exercise_id is None:
        return None
    exercise = db.session.get(Exercise, exercise_id)
    if exercise is None:
        return None
    if exercise.division_code in person.division.lineage_codes() or can_access(person, exercise.division):
        return exercise
    return None


# ---- changes -------------------------------------------------------------------------------

def change_state(shelter: Shelter, *, person: Person | None, channel: str, exercise_id: int | None,
                 occupancy: int | None = None, status: str | None = None, note: str | None = None) -> State:
    """Set occupancy and/or status (rules applied), write a history row and an audit entry.

    Inside an exercise only the shelter's drill overlay changes; the real row is untouched.
    """
    now = utcnow()
    overlay = None
    if exercise_id is not None:
        overlay = _overlays([shelter.id], exercise_id).get(shelter.id)
        if overlay is None:
            overlay = ShelterDrillState(shelter_id=shelter.id, exercise_id=exercise_id,
                                        occupancy=shelter.occupancy, status=shelter.status,
                                        occupancy_updated_at=shelter.occupancy_updated_at)
            db.session.add(overlay)
    target = overlay if overlay is not None else shelter
    before = State(shelter.capacity, target.occupancy, target.status, target.occupancy_updated_at, None)
    new_occupancy, new_status = before.occupancy, before.status
    if status is not None:
        new_status = rules.status_after_command(status, new_occupancy, shelter.capacity)
    if occupancy is not None:
        new_occupancy = occupancy
        new_status = rules.status_after_occupancy(new_status, new_occupancy, shelter.capacity)
        target.occupancy_updated_at = now
    target.occupancy, target.status = new_occupancy, new_status
    if overlay is None:
        shelter.updated_at = now
    label = f"{person.name} {person.phone}" if person is not None else "system"
    db.session.add(OccupancyRecord(
        shelter_id=shelter.id, at=now, person_id=person.id if person else None, actor=label,
        channel=channel, occupancy_before=before.occupancy, occupancy_after=new_occupancy,
        status_before=before.status, status_after=new_status, note=note, exercise_id=exercise_id))
    audit.record("shelter.update", "shelter", shelter.code,
                 before={"occupancy": before.occupancy, "status": before.status},
                 after={"occupancy": new_occupancy, "status": new_status, "channel": channel},
                 actor=person, exercise_id=exercise_id)
    return State(shelter.capacity, new_occupancy, new_status, target.occupancy_updated_at, shelter.updated_at)


def history(shelter: Shelter, exercise_id: int | None, limit: int = 200) -> list[OccupancyRecord]:
    return list(db.session.scalars(
        select(OccupancyRecord).where(OccupancyRecord.shelter_id == shelter.id,
                                      exercise_clause(OccupancyRecord.exercise_id, exercise_id))
        .order_by(OccupancyRecord.id.desc()).limit(limit)))


# ---- the spatial index ---------------------------------------------------------------------

def bump_index() -> None:
    """Renew the index token in the caller's transaction (a shelter moved, appeared or went)."""
    token = uuid.uuid4().hex
    result = db.session.execute(update(ShelterIndexVersion).where(ShelterIndexVersion.id == 1)
                                .values(token=token))
    if result.rowcount == 0:
        db.session.add(ShelterIndexVersion(id=1, token=token))
    db.session.flush()


def spatial_index() -> GridIndex:
    """This process's index, rebuilt when the token in the database changed (read token first)."""
    token = db.session.scalar(select(ShelterIndexVersion.token).where(ShelterIndexVersion.id == 1))
    cached = current_app.extensions.get("shelters_index")
    if cached is not None and token is not None and cached[0] == token:
        return cached[1]
    rows = db.session.execute(
        select(Shelter.id, Shelter.lon, Shelter.lat, Shelter.division_code, Division.township_code,
               Division.county_code, Division.city_code, Division.province_code)
        .join(Division, Division.code == Shelter.division_code))
    points = [Point(r[0], r[1], r[2], frozenset(c for c in r[3:] if c)) for r in rows]
    index = GridIndex(points)
    current_app.extensions["shelters_index"] = (token, index)
    return index


@dataclass(frozen=True)
class Hit:
    shelter: Shelter
    state: State
    distance_m: float


def nearest(lon: float, lat: float, *, people: int = 1, limit: int = 3, within: str | None = None,
            exercise_id: int | None = None) -> list[Hit]:
    """Open or standby shelters with free ≥ people, nearest first (great circle, ties by id).

    `within` restricts to shelters in that division or below. Candidates come from the grid
    index in distance order and are checked against the database in small batches.
    """
    hits: list[Hit] = []
    stream = spatial_index().nearest(lon, lat, within)
    batch_size = max(8, 2 * limit)
    while len(hits) < limit:
        batch = []
        for item in stream:
            batch.append(item)
            if len(batch) >= batch_size:
                break
        if not batch:
            break
        shelters = {s.id: s for s in db.session.scalars(
            select(Shelter).where(Shelter.id.in_([p.id for _d, p in batch])))}
        states = states_of(list(shelters.values()), exercise_id)
        for distance, point in batch:
            shelter = shelters.get(point.id)
            if shelter is None:
                continue
            state = states[shelter.id]
            if state.status in rules.SEARCHABLE and state.free >= people:
                hits.append(Hit(shelter, state, distance))
                if len(hits) == limit:
                    break
        batch_size = min(batch_size * 2, 500)
    return hits


# ---- GeoJSON -------------------------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def feature(shelter: Shelter, state: State, **extra) -> dict:
    """A GeoJSON Feature whose properties are the SPEC §6 fields (plus free, stale, url)."""
    properties = {
        "id": shelter.id, "code": shelter.code, "name": shelter.name, "level": shelter.level,
        "class": shelter.shelter_class, "type": shelter.type, "division_code": shelter.division_code,
        "division_name": shelter.division.name if shelter.division else None, "address": shelter.address,
        "effective_area_m2": shelter.effective_area_m2, "capacity": shelter.capacity,
        "occupancy": state.occupancy, "free": state.free, "status": state.status, "stale": state.stale,
        "facilities": list(shelter.facilities or []), "manager_name": shelter.manager_name,
        "manager_phone": shelter.manager_phone, "updated_at": _iso(shelter.updated_at),
        "occupancy_updated_at": _iso(state.occupancy_updated_at),
        "url": f"/shelters/{shelter.id}",
    }
    properties.update(extra)
    return {"type": "Feature", "id": shelter.code,
            "geometry": {"type": "Point", "coordinates": [shelter.lon, shelter.lat]},
            "properties": properties}


def collection(features: list[dict], **extra) -> dict:
    return {"type": "FeatureCollection", "features": features, **extra}


def scoped(person: Person):
    """SELECT of the shelters a person may see (their division and below)."""
    return select(Shelter).where(scope_clause(person, Shelter.division_code))


def filtered(person: Person, *, status: str | None = None, township: str | None = None,
             shelter_class: str | None = None, type_: str | None = None, exercise_id: int | None = None,
             min_free: int | None = None) -> list[tuple[Shelter, State]]:
    """Shelters in scope with the list filters applied (status and free places drill-aware)."""
    stmt = scoped(person)
    if township:
        stmt = stmt.where(Shelter.division_code.in_(
            select(Division.code).where((Division.code == township) | (Division.township_code == township))))
    if shelter_class:
        stmt = stmt.where(Shelter.shelter_class == shelter_class)
    if type_:
        stmt = stmt.where(Shelter.type == type_)
    shelters = list(db.session.scalars(stmt.order_by(Shelter.code)))
    states = states_of(shelters, exercise_id)
    rows = [(s, states[s.id]) for s in shelters]
    if status:
        rows = [(s, st) for s, st in rows if st.status == status]
    if min_free:
        rows = [(s, st) for s, st in rows if st.free >= min_free]
    return rows


def board_layer(person: Person, exercise_id: int | None) -> dict:
    """For the incident board: the shelters in the person's scope as a FeatureCollection with
    name, status, capacity, occupancy, free, stale and url in each feature's properties."""
    return collection([feature(s, st) for s, st in filtered(person, exercise_id=exercise_id)])
