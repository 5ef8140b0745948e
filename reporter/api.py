"""JSON API for messages, reports, incidents, events and review (SPEC §8.3), on `core.api.bp`.

Lists are keyset-paginated (`core.api.paginate`) and scoped (`core.scope.scope_clause`); a record
outside the caller's scope answers 404 exactly like one that does not exist. `?exercise=<id>`
selects that exercise's records, real ones otherwise (`core.exercises.exercise_clause`).
"""

from __future__ import annotations

import re

from flask import jsonify, request
from sqlalchemy import select

from core.api import ApiError, api_person, bp, choice_arg, code_arg, doc, exercise_arg, paginate, since_arg
from core.exercises import exercise_clause
from core.extensions import db
from core.indicators import HAZARDS, REPORT_KINDS
from core.scope import can_access, scope_clause
from reporter import review, service, shapes
from reporter.access import event_visible_clause, message_in_scope, review_queue_stmt
from reporter.models import REPORT_STATUSES, Event, InboundMessage, Incident, Report

CODE = re.compile(r"^\d{12}$")
TAG = "reports"
_LIST_PARAMS = {"exercise": "exercise id: that exercise's records (default: real records only)",
                "cursor": "opaque cursor from `next`", "limit": "page size (1-500, default 50)"}


# ---- argument parsing ------------------------------------------------------------------------

def _int_path(value: str, what: str) -> int:
    number = service.parse_report_id(value) if what == "report" else (int(value) if value.isdigit() else None)
    if number is None or number > 2_000_000_000:
        raise ApiError(404, f"no such {what}")
    return number


def _body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "send a JSON object body")
    return data


def _call(fn, *args, **kwargs):
    """Run a review flow, turning its exceptions into JSON errors (nothing half-done stays)."""
    try:
        return fn(*args, **kwargs)
    except PermissionError as exc:
        db.session.rollback()
        raise ApiError(403, str(exc)) from None
    except ValueError as exc:
        db.session.rollback()
        raise ApiError(422, str(exc)) from None


# ---- messages ----------------------------------------------------------------------------------

def _message(sid: str) -> InboundMessage:
    message = db.session.scalar(select(InboundMessage).where(InboundMessage.sid == sid[:64]))
    if message is None or not message_in_scope(api_person(), message):
        raise ApiError(404, "no such message")
    return message


@bp.get("/messages/<sid>")
@doc("One inbound SMS by its MessageSid", tag=TAG)
def reporter_get_message(sid: str):
    return jsonify(shapes.serialize_message(_message(sid)))


def serialize_queued(message: InboundMessage) -> dict:
    data = shapes.serialize_message(message)
    data.update(review_status=message.review_status, reply=message.reply,
                person_name=message.person.name if message.person else None,
                village_code=message.person.division_code if message.person else None,
                division_code=message.person.division_code if message.person else message.division_code)
    return data


@bp.get("/review-queue")
@doc("Messages waiting for review: unparsed, unknown senders, refused reports", params=_LIST_PARAMS, tag=TAG)
def reporter_review_queue():
    person = api_person()
    if person.role not in ("township", "county", "city", "province", "admin"):
        raise ApiError(403, "the review queue is for responders and offices")
    return paginate(review_queue_stmt(person, exercise_arg()), InboundMessage.id, serialize_queued)


@bp.post("/messages/<sid>/convert")
@doc("Turn a queued message into a report by hand (county or above)", tag=TAG,
     body={"type": "object", "required": ["village_code", "text"],
           "properties": {"village_code": {"type": "string"}, "text": {"type": "string"}}})
def reporter_convert_message(sid: str):
    data = _body()
    if not isinstance(data.get("village_code"), str) or not isinstance(data.get("text"), str):
        raise ApiError(400, "village_code and text must be strings")
    report = _call(review.convert_message, api_person(), _message(sid), village_code=data["village_code"],
                   text=data["text"])
    return jsonify(shapes.serialize_report(report)), 201


@bp.post("/messages/<sid>/dismiss")
@doc("Dismiss a queued message with a note (it stays stored)", tag=TAG,
     body={"type": "object", "properties": {"note": {"type": "string"}}})
def reporter_dismiss_message(sid: str):
    data = _body()
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        raise ApiError(400, "note must be a string")
    message = _call(review.dismiss_message, api_person(), _message(sid), note)
    return jsonify(serialize_queued(message))


# ---- reports -------------------------------------------------------------------------------------

def _report(report_id: str) -> Report:
    report = db.session.get(Report, _int_path(report_id, "report"))
    if report is None or not can_access(api_person(), report.village):
        raise ApiError(404, "no such report")
    return report


@bp.get("/reports")
@doc("Reports in your scope, newest first", tag=TAG, params={
    "village": "village code", "township": "township code", "county": "county code",
    "kind": "initial|update|final|nil", "hazard": "hazard key", "status": "received|accepted|returned|corrected",
    "since": "received at or after (ISO 8601)", "message_sid": "the SMS it came from", **_LIST_PARAMS})
def reporter_list_reports():
    person = api_person()
    stmt = select(Report).where(scope_clause(person, Report.village_code),
                                exercise_clause(Report.exercise_id, exercise_arg()))
    for name, column in (("village", Report.village_code), ("township", Report.township_code),
                         ("county", Report.county_code)):
        code = code_arg(name)
        if code:
            stmt = stmt.where(column == code)
    for name, column, choices in (("kind", Report.kind, tuple(REPORT_KINDS)), ("hazard", Report.hazard, tuple(HAZARDS)),
                                  ("status", Report.status, REPORT_STATUSES)):
        value = choice_arg(name, choices)
        if value:
            stmt = stmt.where(column == value)
    since = since_arg()
    if since:
        stmt = stmt.where(Report.received_at >= since)
    sid = request.args.get("message_sid")
    if sid:
        stmt = stmt.where(Report.message_id.in_(select(InboundMessage.id).where(InboundMessage.sid == sid[:64])))
    return paginate(stmt, Report.id, shapes.serialize_report)


@bp.get("/reports/<report_id>")
@doc("One report by id (R1203 or 1203)", tag=TAG)
def reporter_get_report(report_id: str):
    return jsonify(shapes.serialize_report(_report(report_id)))


@bp.post("/reports/<report_id>/review")
@doc("Accept or return a report (township or above); a return needs a reason", tag=TAG,
     body={"type": "object", "required": ["action"],
           "properties": {"action": {"enum": ["accept", "return"]}, "reason": {"type": "string"}}})
def reporter_review_report(report_id: str):
    data = _body()
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise ApiError(400, "reason must be a string")
    report = _call(review.review_report, api_person(), _report(report_id), data.get("action"), reason)
    return jsonify(shapes.serialize_report(report))


# ---- incidents and events ---------------------------------------------------------------------

@bp.get("/incidents")
@doc("Incidents (one village, one hazard) in your scope", tag=TAG, params={
    "village": "village code", "township": "township code", "county": "county code", "hazard": "hazard key",
    "status": "open|closed", "event": "event id", "since": "last report at or after (ISO 8601)", **_LIST_PARAMS})
def reporter_list_incidents():
    person = api_person()
    stmt = select(Incident).where(scope_clause(person, Incident.village_code),
                                  exercise_clause(Incident.exercise_id, exercise_arg()))
    for name, column in (("village", Incident.village_code), ("township", Incident.township_code),
                         ("county", Incident.county_code)):
        code = code_arg(name)
        if code:
            stmt = stmt.where(column == code)
    for name, column, choices in (("hazard", Incident.hazard, tuple(HAZARDS)),
                                  ("status", Incident.status, ("open", "closed"))):
        value = choice_arg(name, choices)
        if value:
            stmt = stmt.where(column == value)
    event = request.args.get("event")
    if event:
        if not event.isdigit() or len(event) > 9:
            raise ApiError(400, "event must be an event id")
        stmt = stmt.where(Incident.event_id == int(event))
    since = since_arg()
    if since:
        stmt = stmt.where(Incident.last_report_at >= since)
    return paginate(stmt, Incident.id, shapes.serialize_incident)


def _incident(incident_id: str) -> Incident:
    incident = db.session.get(Incident, _int_path(incident_id, "incident"))
    if incident is None or not can_access(api_person(), incident.village):
        raise ApiError(404, "no such incident")
    return incident


@bp.get("/incidents/<incident_id>")
@doc("One incident", tag=TAG)
def reporter_get_incident(incident_id: str):
    return jsonify(shapes.serialize_incident(_incident(incident_id)))


@bp.post("/incidents/<incident_id>/close")
@doc("Close an incident (township or above)", tag=TAG,
     body={"type": "object", "properties": {"note": {"type": "string"}}})
def reporter_close_incident(incident_id: str):
    data = request.get_json(silent=True) or {}
    note = data.get("note") if isinstance(data, dict) else None
    note = note if isinstance(note, str) else None
    incident = _call(review.close_incident, api_person(), _incident(incident_id), note)
    return jsonify(shapes.serialize_incident(incident))


@bp.get("/events")
@doc("Events (灾害过程: one county, one hazard) in your scope", tag=TAG, params={
    "county": "county code", "hazard": "hazard key", "status": "open|closed",
    "since": "active at or after (ISO 8601)", **_LIST_PARAMS})
def reporter_list_events():
    person = api_person()
    stmt = select(Event).where(event_visible_clause(person), exercise_clause(Event.exercise_id, exercise_arg()))
    code = code_arg("county")
    if code:
        stmt = stmt.where(Event.county_code == code)
    for name, column, choices in (("hazard", Event.hazard, tuple(HAZARDS)),
                                  ("status", Event.status, ("open", "closed"))):
        value = choice_arg(name, choices)
        if value:
            stmt = stmt.where(column == value)
    since = since_arg()
    if since:
        stmt = stmt.where(Event.last_activity_at >= since)
    return paginate(stmt, Event.id, shapes.serialize_event)


def _event(event_id: str) -> Event:
    event = db.session.scalar(select(Event).where(Event.id == _int_path(event_id, "event"),
                                                  event_visible_clause(api_person())))
    if event is None:
        raise ApiError(404, "no such event")
    return event


@bp.get("/events/<event_id>")
@doc("One event", tag=TAG)
def reporter_get_event(event_id: str):
    return jsonify(shapes.serialize_event(_event(event_id)))


@bp.post("/events/<event_id>/close")
@doc("End an event (灾害过程) and close its open incidents (county or above)", tag=TAG,
     body={"type": "object", "properties": {"note": {"type": "string"}}})
def reporter_close_event(event_id: str):
    data = request.get_json(silent=True) or {}
    note = data.get("note") if isinstance(data, dict) else None
    event = _call(review.close_event, api_person(), _event(event_id), note if isinstance(note, str) else None)
    return jsonify(shapes.serialize_event(event))


@bp.post("/events/<event_id>/daily-report")
@doc("Turn daily reporting (零报告) on or off for an event (county or above)", tag=TAG,
     body={"type": "object", "required": ["on"], "properties": {"on": {"type": "boolean"}}})
def reporter_daily_report(event_id: str):
    data = _body()
    if not isinstance(data.get("on"), bool):
        raise ApiError(400, "on must be true or false")
    event = _call(review.set_daily_report, api_person(), _event(event_id), data["on"])
    return jsonify(shapes.serialize_event(event))


@bp.post("/events/<event_id>/county-report")
@doc("Mark the county's own initial report (初报) to the city as sent: stops its 2-hour clock (county or above)",
     tag=TAG)
def reporter_county_report(event_id: str):
    event = _call(review.mark_county_report_sent, api_person(), _event(event_id))
    return jsonify(shapes.serialize_event(event))
