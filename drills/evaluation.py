"""The evaluation report (演练评估报告): stored records → plain values → metrics → HTML or PDF.

Only the stored records are read (exercise, participants, messages, reports, escalations,
outbound SMS, shelter occupancy), never the simulator's plan: a live drill and a simulated
one are judged the same way. Times are converted to scenario seconds from the exercise start
(`clock_speed`: a simulated drill at ×60 played an hour per minute); the SMS hand-over time is
kept in wall-clock seconds because it measures the machine, not the scenario: from the report to
its first alert to each responder, and from a deadline to the E4 that climbed from it.
"""

from __future__ import annotations

from datetime import datetime

from flask import current_app, has_request_context, render_template
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from core.exercises import Exercise
from core.extensions import db
from core.models import utcnow
from dispatch.models import ESCALATION_PURPOSES, Escalation
from drills import charts, metrics, service
from messaging.models import OutboundSms
from reporter.models import InboundMessage, Report
from shelters.models import OccupancyRecord, Shelter

HEADINGS = ("概述", "目标达成", "表现", "发现的问题", "改进建议")
DATA_ATTRIBUTION = ("区划数据：国家统计局统计用区划代码（2016），经 Vonng/adcode 整理，CC BY 4.0 "
                    "(https://creativecommons.org/licenses/by/4.0/)")


def scenario_start(exercise: Exercise) -> datetime:
    raw = (exercise.settings or {}).get("scenario_start")
    if raw:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            pass
    return exercise.started_at


def load_inputs(exercise: Exercise) -> dict:
    """The stored records of one exercise as the plain values `metrics.evaluate` takes."""
    start, speed = scenario_start(exercise), exercise.clock_speed

    def t(moment: datetime | None) -> float | None:
        return None if moment is None else (moment - start).total_seconds() * speed

    ex = exercise.id
    villages = [{"code": v.village_code, "name": v.village_name, "township_code": v.township_code,
                 "township_name": v.township_name} for v in service.participants(exercise)]
    reports = [{"t": t(at), "village_code": code, "kind": kind, "flags": flags or [], "status": status}
               for at, code, kind, flags, status in db.session.execute(
                   select(Report.received_at, Report.village_code, Report.kind, Report.flags, Report.status)
                   .where(Report.exercise_id == ex))]
    messages = [{"t": t(at), "outcome": outcome, "body": body, "review_status": review}
                for at, outcome, body, review in db.session.execute(
                    select(InboundMessage.received_at, InboundMessage.outcome, InboundMessage.body,
                           InboundMessage.review_status)
                    .where(InboundMessage.exercise_id == ex).order_by(InboundMessage.id))]
    escalations = [{"id": i, "rule": rule, "level": level, "t": t(created), "t_ack": t(acked), "status": status}
                   for i, rule, level, created, acked, status in db.session.execute(
                       select(Escalation.id, Escalation.rule, Escalation.level, Escalation.created_at,
                              Escalation.acknowledged_at, Escalation.status)
                       .where(Escalation.exercise_id == ex).order_by(Escalation.id))]
    firsts, climbs = _first_alerts(ex)
    below = aliased(Escalation)
    sms = [{"status": status, "purpose": purpose, "error_code": code,
            "notify_s": _seconds(received_at, sent_at) if sms_id in firsts and sms_id not in climbs else None,
            "climb_s": _seconds(deadline_at, sent_at) if sms_id in climbs else None}
           for sms_id, status, purpose, code, sent_at, received_at, deadline_at in db.session.execute(
               select(OutboundSms.id, OutboundSms.status, OutboundSms.purpose, OutboundSms.error_code,
                      OutboundSms.sent_at, Report.received_at, below.deadline_at)
               .outerjoin(Report, Report.id == OutboundSms.report_id)
               .outerjoin(Escalation, Escalation.id == OutboundSms.escalation_id)
               .outerjoin(below, below.id == Escalation.parent_id)
               .where(OutboundSms.exercise_id == ex))]
    return {"villages": villages, "reports": reports, "messages": messages, "escalations": escalations,
            "sms": sms, "shelters": shelter_use(exercise),
            "duration": float((exercise.settings or {}).get("duration") or _observed_duration(exercise, speed))}


def _first_alerts(exercise_id: int) -> tuple[set[int], set[int]]:
    """Which SMS measure the machine: the first alert of each report to each responder (a repeat,
    sent half a window later by design, is not one), and the first text of each E4 to each
    responder (measured from the deadline it climbed from, not from the report)."""
    alerts = (select(func.min(OutboundSms.id)).join(Escalation, Escalation.id == OutboundSms.escalation_id)
              .where(OutboundSms.exercise_id == exercise_id, OutboundSms.purpose.in_(ESCALATION_PURPOSES)))
    firsts = set(db.session.scalars(alerts.group_by(OutboundSms.escalation_id, OutboundSms.to_phone,
                                                    OutboundSms.report_id)))
    climbs = set(db.session.scalars(alerts.where(Escalation.rule == "E4")
                                    .group_by(OutboundSms.escalation_id, OutboundSms.to_phone)))
    return firsts, climbs


def _seconds(since: datetime | None, until: datetime | None) -> float | None:
    return (until - since).total_seconds() if since is not None and until is not None else None


def _observed_duration(exercise: Exercise, speed: float) -> float:
    end = exercise.ended_at or exercise.started_at
    return max((end - scenario_start(exercise)).total_seconds() * speed, 2 * metrics.HOUR)


def shelter_use(exercise: Exercise) -> list[dict]:
    """Peak occupancy per shelter during the exercise, from the shelters' occupancy history
    (the rows carrying the exercise id)."""
    rows = db.session.execute(
        select(Shelter.code, Shelter.name, Shelter.capacity, func.max(OccupancyRecord.occupancy_after))
        .join(OccupancyRecord, OccupancyRecord.shelter_id == Shelter.id)
        .where(OccupancyRecord.exercise_id == exercise.id)
        .group_by(Shelter.code, Shelter.name, Shelter.capacity).order_by(Shelter.code)).all()
    return [{"code": c, "name": n, "capacity": cap or 0, "peak": peak or 0} for c, n, cap, peak in rows]


def build(exercise: Exercise) -> dict:
    """Everything the report template needs."""
    inputs = load_inputs(exercise)
    figures = metrics.evaluate(**inputs)
    attribution = (exercise.settings or {}).get("attribution")
    return {
        "exercise": exercise, "figures": figures, "headings": HEADINGS,
        "speed": exercise.clock_speed, "stats": (exercise.settings or {}).get("stats") or {},
        "scenario_label": service.SCENARIO_TITLES.get(exercise.scenario, exercise.scenario),
        "charts": {"arrival": charts.arrival_curve(figures["arrival_curve"]),
                   "acks": charts.ack_times(figures["ack_delays"]),
                   "townships": charts.township_compliance(figures["townships"])},
        "now": utcnow(), "attribution": DATA_ATTRIBUTION if attribution == "shared" else attribution,
    }


def render_html(exercise: Exercise) -> str:
    """The standalone report page; from the CLI a request context is made for the template
    globals every page gets (navigation, CSRF)."""
    if has_request_context():
        return render_template("drills/report.html", **build(exercise))
    with current_app.test_request_context("/"):
        return render_template("drills/report.html", **build(exercise))
