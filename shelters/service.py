"""Shelter database work: drill-aware state, changes with history and audit, search, GeoJSON.

Nothing here commits: callers (a route, the SMS flow of the reporter, the CLI) own the
transaction, so a change, its history row, its audit entry and an outbox SMS commit together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from core import audit
from core.exercises import exercise_clause
from core.extensions import db
from core.models import Division, Person, utcnow
from core.scope import scope_clause
from shelters import rules
from shelters.models import OccupancyRecord, Shelter, ShelterDrillState


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


# ---- changes -------------------------------------------------------------------------------

def change_state(shelter: Shelter, *, person: Person | None, channel: str, exercise_id: int | None,
                 occupancy: int | None = None, status: str | None = None, note: str | None = None) -> State:
    """Set occupancy and/or status (rules applied), write a history row and an audit entry.

    Inside an exercise only the shelter's drill overlay changes; the real row is untouched.
    The row is re-read under a lock first (unflushed changes to `shelter` are discarded).
    """
    now = utcnow()
    overlay = None
    if exercise_id is None:
        # A no-op UPDATE before reading: the row lock on PostgreSQL (FOR NO KEY UPDATE, which
        # foreign-key checks of history rows do not wait for), the write lock on SQLite; so two
        # managers' figures are recorded one after the other, each "before" the other's "after".
        db.session.execute(update(Shelter).where(Shelter.id == shelter.id)
                           .values(occupancy=Shelter.occupancy).execution_options(synchronize_session=False))
        db.session.refresh(shelter)
    else:
        # Two drill messages for one shelter may arrive at once: insert-if-absent, then lock.
        upsert_ignore(ShelterDrillState, {"shelter_id": shelter.id, "exercise_id": exercise_id,
                                          "occupancy": shelter.occupancy, "status": shelter.status,
                                          "occupancy_updated_at": shelter.occupancy_updated_at},
                      ("shelter_id", "exercise_id"))
        overlay = db.session.scalar(select(ShelterDrillState).where(
            ShelterDrillState.shelter_id == shelter.id, ShelterDrillState.exercise_id == exercise_id)
            .with_for_update().execution_options(populate_existing=True))
    target = overlay if overlay is not None else shelter
    before = State(shelter.capacity, target.occupancy, target.status, target.occupancy_updated_at, None)
    new_occupancy, new_status = rules.next_state(before.status, before.occupancy, shelter.capacity,
                                                 new_occupancy=occupancy, command=status)
    if occupancy is not None:
        target.occupancy_updated_at = now
    target.occupancy, target.status = new_occupancy, new_status
    if overlay is None:
        shelter.updated_at = now
    label = f"{person.name} {person.phone}" if person is not None else "system"
    db.session.add(OccupancyRecord(
        shelter_id=shelter.id, at=now, person_id=person.id if person else None, actor=label,
        channel=channel, occupancy_before=before.occupancy, occupancy_after=new_occupancy,
        status_before=before.status, status_after=new_status, note=note, exercise_id=exercise_id))
    db.session.flush()  # our rows first: the audit lock is then held as briefly as possible
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

def upsert_ignore(model, values: dict, keys: tuple[str, ...]) -> None:
    """INSERT … ON CONFLICT DO NOTHING on PostgreSQL and SQLite."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(model).values(**values).on_conflict_do_nothing(index_elements=list(keys)))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def feature(shelter: Shelter, state: State, exercise_id: int | None = None, **extra) -> dict:
    """A GeoJSON Feature whose properties are the SPEC §6 fields (plus free, stale, url; the
    url shows the same exercise's figures)."""
    properties = {
        "id": shelter.id, "code": shelter.code, "name": shelter.name, "level": shelter.level,
        "class": shelter.shelter_class, "type": shelter.type, "division_code": shelter.division_code,
        "division_name": shelter.division.name if shelter.division else None, "address": shelter.address,
        "effective_area_m2": shelter.effective_area_m2, "capacity": shelter.capacity,
        "occupancy": state.occupancy, "free": state.free, "status": state.status, "stale": state.stale,
        "facilities": list(shelter.facilities or []), "manager_name": shelter.manager_name,
        "manager_phone": shelter.manager_phone, "updated_at": _iso(shelter.updated_at),
        "occupancy_updated_at": _iso(state.occupancy_updated_at),
        "url": f"/shelters/{shelter.id}" + (f"?exercise={exercise_id}" if exercise_id else ""),
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


def _filter_stmt(person: Person, *, status: str | None, township: str | None, shelter_class: str | None,
                 type_: str | None, exercise_id: int | None, min_free: int | None):
    """SELECT of the shelters in scope matching the filters, all in SQL (status and free places
    read through the drill overlay when an exercise is chosen)."""
    stmt = scoped(person)
    occupancy, live_status = Shelter.occupancy, Shelter.status
    if exercise_id is not None and (status or min_free):
        overlay = ShelterDrillState
        stmt = stmt.outerjoin(overlay, (overlay.shelter_id == Shelter.id) & (overlay.exercise_id == exercise_id))
        occupancy = func.coalesce(overlay.occupancy, Shelter.occupancy)
        live_status = func.coalesce(overlay.status, Shelter.status)
    if township:
        stmt = stmt.where(Shelter.division_code.in_(
            select(Division.code).where((Division.code == township) | (Division.township_code == township))))
    if shelter_class:
        stmt = stmt.where(Shelter.shelter_class == shelter_class)
    if type_:
        stmt = stmt.where(Shelter.type == type_)
    if status:
        stmt = stmt.where(live_status == status)
    if min_free:
        stmt = stmt.where(Shelter.capacity - occupancy >= min_free)
    return stmt


def filtered(person: Person, *, status: str | None = None, township: str | None = None,
             shelter_class: str | None = None, type_: str | None = None, exercise_id: int | None = None,
             min_free: int | None = None) -> list[tuple[Shelter, State]]:
    """Shelters in scope with the list filters applied (status and free places drill-aware)."""
    stmt = _filter_stmt(person, status=status, township=township, shelter_class=shelter_class, type_=type_,
                        exercise_id=exercise_id, min_free=min_free)
    shelters = list(db.session.scalars(stmt.order_by(Shelter.code)))
    states = states_of(shelters, exercise_id)
    return [(s, states[s.id]) for s in shelters]


def filtered_page(person: Person, page: int, size: int, **filters) -> tuple[list[tuple[Shelter, State]], int]:
    """One page of `filtered` (ordered by code) and the total count, paginated in SQL."""
    stmt = _filter_stmt(person, **{"status": None, "township": None, "shelter_class": None, "type_": None,
                                   "exercise_id": None, "min_free": None, **filters})
    total = db.session.scalar(select(func.count()).select_from(stmt.with_only_columns(Shelter.id).subquery()))
    shelters = list(db.session.scalars(stmt.order_by(Shelter.code).offset((page - 1) * size).limit(size)))
    states = states_of(shelters, filters.get("exercise_id"))
    return [(s, states[s.id]) for s in shelters], total


def board_layer(person: Person, exercise_id: int | None) -> dict:
    """For the incident board: the shelters in the person's scope as a FeatureCollection with
    name, status, capacity, occupancy, free, stale and url in each feature's properties."""
    return collection([feature(s, st, exercise_id) for s, st in filtered(person, exercise_id=exercise_id)])


def located(division: Division) -> Division | None:
    """The division itself when it has coordinates, else its nearest ancestor that has them
    (a village without coordinates is searched from its township seat)."""
    for code in reversed(division.lineage_codes()):
        candidate = division if code == division.code else db.session.get(Division, code)
        if candidate is not None and candidate.lon is not None and candidate.lat is not None:
            return candidate
    return None


def km_text(metres: float) -> str:
    return f"{metres / 1000:.1f}km"
