"""Shelter JSON API on `core.api.bp` (/api/v1): GeoJSON list, nearest search, one shelter.

Scope (SPEC §2) applies to every answer: a caller sees only shelters in their division or
below, whether listing, searching or asking for one by code.
"""

from __future__ import annotations

import math

from flask import jsonify, request

from core.api import ApiError, api_person, bp, choice_arg, doc, int_arg
from core.exercises import watchable_exercise
from core.extensions import db
from core.geo import in_china
from core.models import Division
from core.scope import can_access
from shelters import rules, search, service
from shelters.models import CLASSES, STATUSES, TYPES
from shelters.sms import may_update

MAX_PEOPLE = 1_000_000


def _exercise() -> int | None:
    raw = request.args.get("exercise", "")
    if not raw:
        return None
    if not raw.isdigit():
        raise ApiError(400, "exercise must be an exercise id")
    exercise = watchable_exercise(api_person(), int(raw))
    if exercise is None:
        raise ApiError(404, f"exercise {raw} not found")
    return exercise.id


def _float(name: str, low: float, high: float) -> float | None:
    raw = request.args.get(name, "")
    if raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low:g} and {high:g}")
    return value


@bp.get("/shelters")
@doc("Shelters in the caller's scope as a GeoJSON FeatureCollection (SPEC §6 fields in properties)",
     params={"status": "standby|open|full|closed", "township": "12-digit township code",
             "class": "emergency|short_term|long_term", "type": "park|square|school|…",
             "exercise": "exercise id: drill occupancy instead of real"}, tag="shelters")
def api_shelters():
    person = api_person()
    township = request.args.get("township") or None
    if township is not None:
        division = db.session.get(Division, township)
        if division is None or division.level != "township":
            raise ApiError(400, "township must be a township's 12-digit code")
        if not can_access(person, division) and division.code not in person.division.lineage_codes():
            raise ApiError(403, "that township is outside your scope")
    exercise_id = _exercise()
    rows = service.filtered(person, status=choice_arg("status", STATUSES), township=township,
                            shelter_class=choice_arg("class", CLASSES), type_=choice_arg("type", TYPES),
                            exercise_id=exercise_id)
    return jsonify(service.collection([service.feature(s, st, exercise_id) for s, st in rows]))


@bp.get("/shelters/nearest")
@doc("Nearest open or standby shelters with free places ≥ people, by great-circle distance",
     params={"lat": "WGS84 latitude", "lon": "WGS84 longitude", "village": "12-digit village code (instead of "
             "lat/lon)", "people": "free places needed (default 1)", "limit": "how many (default 3, max 50)",
             "exercise": "exercise id"}, tag="shelters")
def api_nearest():
    person = api_person()
    village_code = request.args.get("village") or None
    lat, lon = _float("lat", -90, 90), _float("lon", -180, 180)
    if village_code is not None:
        village = db.session.get(Division, village_code)
        if village is None or not (can_access(person, village)):
            raise ApiError(404, f"village {village_code} not found in your scope")
        if village.lon is None or village.lat is None:
            raise ApiError(422, f"village {village_code} has no coordinates")
        lon, lat = village.lon, village.lat
    elif lat is None or lon is None:
        raise ApiError(400, "give lat and lon, or village")
    if not in_china(lon, lat):
        raise ApiError(400, f"{lat},{lon} is outside China (lat/lon swapped?)")
    people = int_arg("people", 1, 1, MAX_PEOPLE)
    limit = int_arg("limit", 3, 1, 50)
    exercise_id = _exercise()
    hits = search.nearest(lon, lat, people=people, limit=limit, within=_scope_code(person),
                           exercise_id=exercise_id)
    return jsonify(service.collection(
        [service.feature(h.shelter, h.state, exercise_id, distance_m=round(h.distance_m, 1)) for h in hits],
        query={"lat": lat, "lon": lon, "people": people, "limit": limit}))


def _scope_code(person) -> str | None:
    """The division the search is restricted to (None: everything, for a province admin)."""
    if person.role == "admin" and person.division.level == "province":
        return None
    return person.division_code


@bp.get("/shelters/<code>")
@doc("One shelter by code as a GeoJSON Feature (404 outside your scope)", params={"exercise": "exercise id"},
     tag="shelters")
def api_shelter(code: str):
    person = api_person()
    shelter = service.by_code(code)
    if shelter is None or not can_access(person, shelter.division):
        raise ApiError(404, f"shelter {code[:40]} not found")
    exercise_id = _exercise()
    return jsonify(service.feature(shelter, service.state_of(shelter, exercise_id), exercise_id))


@bp.post("/shelters/<code>/state")
@doc("Report a shelter's occupancy and/or status (its manager, or staff whose scope holds it)",
     params={"exercise": "exercise id: change the drill figures only"},
     body={"type": "object", "properties": {"occupancy": {"type": "integer", "minimum": 0},
                                            "status": {"type": "string", "enum": list(STATUSES)},
                                            "note": {"type": "string", "maxLength": 200}}},
     tag="shelters")
def api_shelter_state(code: str):

    person = api_person()
    shelter = service.by_code(code)
    if shelter is None or not (can_access(person, shelter.division) or may_update(person, shelter)):
        raise ApiError(404, f"shelter {code[:40]} not found")
    if not may_update(person, shelter):
        raise ApiError(403, "only the shelter's manager or a responder whose scope holds it may update it")
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not ({"occupancy", "status"} & set(body)):
        raise ApiError(400, 'send JSON {"occupancy": <whole number>} and/or {"status": "open|full|closed|standby"}')
    occupancy, status, note = body.get("occupancy"), body.get("status"), body.get("note")
    if occupancy is not None and (isinstance(occupancy, bool) or not isinstance(occupancy, int)):
        raise ApiError(400, "occupancy must be a whole number")
    if status is not None and status not in STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(STATUSES)}")
    if note is not None and (not isinstance(note, str) or len(note) > 200):
        raise ApiError(400, "note must be text of at most 200 characters")
    if occupancy is not None:
        problem = rules.occupancy_problem(occupancy, shelter.capacity)
        if problem:
            raise ApiError(422, f"occupancy {occupancy} refused: {problem}")
    exercise_id = _exercise()
    state = service.change_state(shelter, person=person, channel="api", exercise_id=exercise_id,
                                 occupancy=occupancy, status=status, note=note)
    db.session.commit()
    return jsonify(service.feature(shelter, state, exercise_id))
