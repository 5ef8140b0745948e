"""dispatch routes: the escalations API (SPEC §8.3). Thin: parse, call a flow, serialise."""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from core.api import ApiError, api_person, choice_arg, code_arg, doc, exercise_arg, paginate, since_arg
from core.api import bp as api_bp
from core.exercises import exercise_clause
from core.extensions import db
from core.models import LEVELS
from core.scope import can_access
from dispatch import access, flows
from dispatch.models import ESCALATION_STATUSES, RULES, Escalation

bp = Blueprint("dispatch", __name__, template_folder="templates")


@api_bp.get("/escalations")
@doc("Escalations in your scope, newest first",
     params={"status": "open acknowledged escalated overdue closed", "rule": "E1…E6",
             "level": "township county city province village", "village": "division code",
             "township": "division code", "county": "division code", "since": "ISO 8601 time",
             "exercise": "exercise id (without it: real records only)", "limit": "page size",
             "cursor": "from `next`"}, tag="escalations")
def list_escalations():
    person = api_person()
    stmt = (select(Escalation).options(selectinload(Escalation.recipients), selectinload(Escalation.messages))
            .where(access.visible_clause(person), exercise_clause(Escalation.exercise_id, exercise_arg())))
    for name, column, allowed in (("status", Escalation.status, ESCALATION_STATUSES),
                                  ("rule", Escalation.rule, RULES), ("level", Escalation.level, LEVELS)):
        value = choice_arg(name, allowed)
        if value is not None:
            stmt = stmt.where(column == value)
    for name, column in (("village", Escalation.village_code), ("township", Escalation.township_code),
                         ("county", Escalation.county_code)):
        value = code_arg(name)
        if value is not None:
            stmt = stmt.where(column == value)
    since = since_arg()
    if since is not None:
        stmt = stmt.where(Escalation.created_at >= since)
    return paginate(stmt, Escalation.id, access.serialize_escalation)


def _load(escalation_id: str) -> Escalation:
    number = access.parse_escalation_id(escalation_id)
    esc = db.session.get(Escalation, number) if number is not None else None
    if esc is None:
        raise ApiError(404, f"no escalation {escalation_id}")
    person = api_person()
    if not (can_access(person, esc.division_code) or (esc.village_code and can_access(person, esc.village_code))):
        raise ApiError(403, f"{esc.public_id} is outside your area")
    return esc


@api_bp.get("/escalations/<escalation_id>")
@doc("One escalation (`E17` or `17`)", tag="escalations")
def get_escalation(escalation_id: str):
    return jsonify(access.serialize_escalation(_load(escalation_id)))


@api_bp.post("/escalations/<escalation_id>/ack")
@doc("Acknowledge an escalation (a recipient, or a responder at or above its level); twice is harmless",
     tag="escalations")
def ack_escalation(escalation_id: str):
    esc = _load(escalation_id)
    channel = "api" if request.headers.get("Authorization", "").lower().startswith("bearer ") else "board"
    try:
        flows.acknowledge(api_person(), esc, channel)
    except PermissionError:
        raise ApiError(403, f"only a recipient of {esc.public_id} or a responder above may acknowledge it") from None
    db.session.commit()
    return jsonify(access.serialize_escalation(esc))
