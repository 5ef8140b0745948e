"""Nearest shelters with free places (SPEC §6 search): a grid index of every shelter's point,
kept per process and rebuilt when the registry's index token changes (any process that adds,
moves or removes a shelter bumps it), walked outwards from the query point; the live occupancy
and status (or a drill's overlay) are read from the database for the candidates only.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import case, func, select

from core.divisions import upsert
from core.extensions import db
from core.models import Division
from shelters import rules
from shelters.models import Shelter, ShelterDrillState, ShelterIndexVersion
from shelters.service import State
from shelters.spatial import GridIndex, Point


def bump_index() -> None:
    """Renew the index token in the caller's transaction (a shelter moved, appeared, went or
    changed capacity). An upsert: two first writers on an empty table cannot collide."""
    upsert(ShelterIndexVersion, [{"id": 1, "token": uuid.uuid4().hex}], "id")
    db.session.flush()


_TOKEN = select(ShelterIndexVersion.token).where(ShelterIndexVersion.id == 1)


def _build_index() -> tuple[str | None, GridIndex]:
    """Read the token first, then the rows: a change committed in between makes the next
    search see a newer token and rebuild, never label old rows with a new token."""
    token = db.session.scalar(_TOKEN)
    rows = db.session.execute(
        select(Shelter.id, Shelter.lon, Shelter.lat, Shelter.capacity, Shelter.division_code, Division.township_code,
               Division.county_code, Division.city_code, Division.province_code)
        .join(Division, Division.code == Shelter.division_code))
    points = [Point(r[0], r[1], r[2], tuple(c for c in r[4:] if c), r[3]) for r in rows]
    built = (token, GridIndex(points))
    current_app.extensions["shelters_index"] = built
    return built


def spatial_index() -> GridIndex:
    """This process's index, rebuilt when the token in the database changed."""
    cached = current_app.extensions.get("shelters_index")
    if cached is not None and cached[0] == db.session.scalar(_TOKEN):
        return cached[1]
    return _build_index()[1]


@dataclass(frozen=True)
class Hit:
    shelter: Shelter
    state: State
    distance_m: float


def nearest(lon: float, lat: float, *, people: int = 1, limit: int = 3, within: str | None = None,
            exercise_id: int | None = None) -> list[Hit]:
    """Open or standby shelters with free ≥ people, nearest first (great circle, ties by id).

    `within` restricts to shelters in that division or below. Candidates come from the grid
    index in distance order and are checked against the database in small batches; the
    batch query also returns the index token, so a current index costs no extra round trip,
    and a stale one is rebuilt and the search repeated.
    """
    cached = current_app.extensions.get("shelters_index")
    for _attempt in range(3):
        token, index = cached if cached is not None else _build_index()
        hits, seen = _search(index, lon, lat, people, limit, within, exercise_id)
        if seen is _UNSEEN:
            seen = db.session.scalar(_TOKEN)
        if seen == token:
            return hits
        cached = None
    return hits


_UNSEEN = object()


def _search(index: GridIndex, lon: float, lat: float, people: int, limit: int, within: str | None,
            exercise_id: int | None) -> tuple[list[Hit], object]:
    hits: list[Hit] = []
    seen: object = _UNSEEN
    stream = index.nearest(lon, lat, within, min_capacity=people)
    batch_size = max(8, 2 * limit)
    while len(hits) < limit:
        batch = list(itertools.islice(stream, batch_size))
        if not batch:
            break
        rows = {row[0].id: row for row in db.session.execute(_live_query([p.id for _d, p in batch], exercise_id))}
        for distance, point in batch:
            row = rows.get(point.id)
            if row is None:
                continue
            seen = row[5]
            shelter = row[0]
            state = State(shelter.capacity, row[1], row[2], row[3], row[4])
            if state.status in rules.SEARCHABLE and state.free >= people:
                hits.append(Hit(shelter, state, distance))
                if len(hits) == limit:
                    break
        batch_size = min(batch_size * 2, 500)
    return hits, seen


def _live_query(ids: list[int], exercise_id: int | None):
    """The candidates with their live occupancy and status (drill overlay applied) and the
    current index token, in one query: this runs on every search."""
    token = _TOKEN.scalar_subquery()
    if exercise_id is None:
        return select(Shelter, Shelter.occupancy, Shelter.status, Shelter.occupancy_updated_at, Shelter.updated_at,
                      token).where(Shelter.id.in_(ids))
    overlay = ShelterDrillState
    return (select(Shelter, func.coalesce(overlay.occupancy, Shelter.occupancy),
                   func.coalesce(overlay.status, Shelter.status),
                   case((overlay.id.is_(None), Shelter.occupancy_updated_at), else_=overlay.occupancy_updated_at),
                   Shelter.updated_at, token)
            .outerjoin(overlay, (overlay.shelter_id == Shelter.id) & (overlay.exercise_id == exercise_id))
            .where(Shelter.id.in_(ids)))


# ---- GeoJSON -------------------------------------------------------------------------------
