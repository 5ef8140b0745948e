"""Dispatch workflows (SPEC §5): open escalations after a report, acknowledge them, escalate the
ones nobody acknowledged (E4), tell an officer their report was returned (E6), settle the
waiting ones when an incident or event closes.

The `on_*` receivers are connected to the reporter's events (`reporter.events`) and run in the
reporter's transaction; `handle_ack` answers the `收到` SMS command. These do not commit (the
intake, the API view and the board commit). E4 and repeats are `dispatch.overdue` and
`dispatch.repeats`, which the worker runs when they are due.
"""

from __future__ import annotations

import logging

from flask import current_app
from sqlalchemy import or_, select, update

from core import audit
from core.exercises import exercise_clause
from core.extensions import db
from core.indicators import INDICATOR_KEYS
from core.localtime import local_text
from core.models import AuditEntry, Division, Person, utcnow
from core.scope import can_access
from dispatch import opening, service
from dispatch.models import ACKABLE, Escalation, EscalationStatus
from dispatch.rules import LADDER, Policy, Situation, decide, merge_levels
from messaging.models import OutboundSms
from messaging.outbox import queue_sms
from messaging.templates import sms_template
from reporter.commands import Handled
from reporter.grammar import Command
from reporter.models import Event, InboundMessage, Incident, Outcome, Report

# This module's SMS texts as named templates (messaging.templates).
ACKED_BY_OTHER = sms_template("ack_by_colleague", "【已确认】{escalation}{place}已由{name}确认，无需再回复。",
                              "the others told at a level: a colleague acknowledged")
ACK_UNKNOWN = sms_template(
    "ack_unknown",
    "未找到通知E{number}，请核对编号后回复：收到 E编号",
    "收到 with an unknown id")
ACK_NOT_YOURS = sms_template(
    "ack_not_allowed",
    "您不是{escalation}的接收人或其上级，无法确认。",
    "收到 from someone not told")
ACK_DRILL = sms_template(
    "ack_is_drill",
    "E{number}是演练通知，请回复：演练 收到 E{number}",
    "收到 without 演练 for a drill's alert")
ACK_REAL = sms_template("ack_is_real", "E{number}是真实灾情通知，不属于演练，请直接回复：收到 E{number}",
                        "演练 收到 for a real alert")
ACK_ALREADY = sms_template("ack_already", "{escalation}已由{name}于{time}确认，无需重复。", "a second acknowledgement")
ACK_NOT_NEEDED = sms_template(
    "ack_not_needed",
    "{escalation}无需确认。",
    "收到 for an escalation that waits for nobody")
ACK_DONE = sms_template("ack_done", "已确认{escalation}{place}，谢谢。", "an acknowledgement recorded")
RETURNED = sms_template("report_returned", "【退回】您的报告R{report}已被退回：{reason}。请核实后重新报送或发送更正。",
                        "a reviewer returned an officer's report")

log = logging.getLogger("zaibao.dispatch")


def on_report_saved(report: Report, *, incident: Incident | None, previous: dict | None) -> list[Escalation]:
    """One report (a correction of an incident's latest report): `on_reports_filed` of one."""
    return on_reports_filed([(report, incident, previous)])[0]


def on_reports_filed(filed: list[tuple[Report, Incident | None, dict | None]]) -> list[list[Escalation]]:
    """Open the escalations the rules call for (E1–E3), with their SMS in the outbox, in the
    caller's transaction, for each (report, its incident, the incident's figures before it: None
    for a new incident). A level whose escalation of this incident still waits is not told twice:
    that one is updated (one 【灾情更新】 SMS) instead. Returns, per report, the escalations opened
    or updated (including records of levels skipped because nobody was on duty).

    The reports are of different incidents (the intake processor files a village's reports one
    batch round at a time), so their chains are opened together (`dispatch.opening`)."""
    policy = Policy.from_config(current_app.config)
    wanted: list[tuple[Report, Incident, dict | None, Division, list[tuple[str, str, float | None]]]] = []
    for report, incident, previous in filed:
        if incident is None or report.kind == "nil":
            wanted.append((report, incident, previous, None, []))
            continue
        village = report.village or db.session.get(Division, report.village_code)
        situation = Situation(kind=report.kind, now={k: getattr(incident, k) for k in INDICATOR_KEYS},
                              before=previous, is_new=previous is None)
        wanted.append((report, incident, previous, village, merge_levels(decide(situation, policy))))
    live = opening.live_escalations({(incident.id, level) for _r, incident, previous, _v, levels in wanted
                                     if previous is not None for level, _rule, _m in levels})
    chains: list[list[opening.Chain]] = []
    updated: list[list[Escalation]] = []
    for report, incident, previous, village, levels in wanted:
        planned = frozenset(level for level, _rule, _minutes in levels)
        mine, changed = [], []
        for level, rule, minutes in levels:
            esc = live.get((incident.id, level)) if previous is not None else None
            if esc is not None:
                opening.update_live(esc, rule, village, incident, report)
                changed.append(esc)
            else:
                mine.append(opening.Chain(rule, level, village, incident, report, report.exercise_id, minutes,
                                          stop_levels=planned))
        chains.append(mine)
        updated.append(changed)
    opening.open_chains([chain for mine in chains for chain in mine])
    result = []
    for (report, *_rest), mine, changed in zip(wanted, chains, updated, strict=True):
        created = [esc for chain in mine for esc in chain.opened]
        _audit_opened(report, created, changed)
        result.append(sorted(changed + created, key=lambda e: LADDER.index(e.level) if e.level in LADDER else 0))
    return result


def _audit_opened(report: Report, created: list[Escalation], updated: list[Escalation]) -> None:
    if created:
        audit.record("escalations.open", "report", report.public_id, exercise_id=report.exercise_id,
                     after={"escalations": [{"id": e.public_id, "rule": e.rule, "level": e.level,
                                             "recipients": [p.id for p in e.recipients]} for e in created]})
    if updated:
        audit.record("escalations.update", "report", report.public_id, exercise_id=report.exercise_id,
                     after={"escalations": [{"id": e.public_id, "rule": e.rule, "level": e.level} for e in updated]})


# ---- acknowledgement ----------------------------------------------------------------------

def may_acknowledge(person: Person, escalation: Escalation) -> bool:
    """A recipient, or a responder whose scope holds the escalation's division (same or above)."""
    if person is None or not person.active:
        return False
    if any(p.id == person.id for p in escalation.recipients):
        return True
    return person.is_staff and can_access(person, escalation.division_code)


def acknowledge(person: Person, escalation: Escalation, channel: str) -> bool:
    """Acknowledge an escalation (API, board, SMS); twice is harmless. Raises PermissionError
    when the person may not. The caller commits. Returns whether this person's acknowledgement
    was recorded now: False when it was acknowledged already (by them or by someone else, maybe
    while this one waited for the row) or closed, so the caller never thanks the wrong person.

    The UPDATE is conditional, so an acknowledgement and the deadline job cannot both win: if
    the acknowledgement lands first the deadline finds nothing open and no E4 is sent.
    """
    if not may_acknowledge(person, escalation):
        raise PermissionError(f"{person.name if person else 'nobody'} may not acknowledge {escalation.public_id}")
    if escalation.status not in ACKABLE or escalation.acknowledged_at is not None:
        return False
    values = {"status": EscalationStatus.ACKNOWLEDGED, "acknowledged_at": utcnow(), "acknowledged_by_id": person.id,
              "ack_channel": channel[:8]}
    result = db.session.execute(update(Escalation).where(
        Escalation.id == escalation.id, Escalation.status.in_(ACKABLE),
        Escalation.acknowledged_at.is_(None)).values(values), execution_options={"synchronize_session": "evaluate"})
    # The UPDATE's values are set on the object as it goes ("evaluate"), so nothing is reloaded:
    # a full refresh also reloaded the recipients, already loaded to check the right to acknowledge
    # and needed again to tell the others. Lost to a concurrent change: what the row says now.
    if result.rowcount != 1:
        db.session.refresh(escalation)
        return False
    db.session.expire(escalation, ["acknowledged_by"])
    db.session.add(acknowledgement_entry(escalation.public_id, person, channel, escalation.exercise_id))
    _tell_the_others(escalation, person)
    return True


def acknowledgement_entry(public_id: str, person: Person, channel: str, exercise_id: int | None) -> AuditEntry:
    """The audit entry of an acknowledgement recorded in `person`'s name (not added)."""
    return audit.entry("escalation.acknowledge", "escalation", public_id, actor=person,
                       after={"channel": channel, "status": EscalationStatus.ACKNOWLEDGED}, exercise_id=exercise_id)


def _tell_the_others(escalation: Escalation, acker: Person) -> None:
    """The other people told at that level learn that someone has it, so they can stop (one short SMS)."""
    others = [p for p in escalation.recipients if p.id != acker.id and p.active]
    if not others:
        return
    village = db.session.get(Division, escalation.village_code) if escalation.village_code else None
    place = f"（{village.name}）" if village else ""
    for person in others:
        queue_sms(person.phone, template=ACKED_BY_OTHER,
                  params={"escalation": escalation.public_id, "place": place, "name": acker.name},
                  purpose="notice", person=person, escalation_id=escalation.id, report_id=escalation.report_id,
                  exercise_id=escalation.exercise_id)


def _newest_open_for(person: Person, exercise_id: int | None) -> Escalation | None:
    sent_to_phone = select(OutboundSms.escalation_id).where(
        OutboundSms.to_phone == person.phone, OutboundSms.escalation_id.is_not(None))
    return db.session.scalar(
        select(Escalation).where(
            Escalation.status.in_(ACKABLE), Escalation.acknowledged_at.is_(None),
            exercise_clause(Escalation.exercise_id, exercise_id),
            or_(Escalation.id.in_(sent_to_phone), Escalation.recipients.any(Person.id == person.id)))
        .order_by(Escalation.id.desc()).limit(1))


def acknowledge_by_sms(person: Person, escalation_id: int | None, exercise_id: int | None) -> str:
    """Handle `收到 [E17]` from a responder; returns the reply text (without the 【演练】 prefix,
    which the reporter adds to every drill reply). The caller commits."""
    if escalation_id is None:
        esc = _newest_open_for(person, exercise_id)
        if esc is None:
            return "暂无待确认的通知。如需确认请回复：收到 E编号"
    else:
        esc = db.session.get(Escalation, escalation_id)
        if esc is None:
            return f"未找到通知E{escalation_id}，请核对编号后回复：收到 E编号"
        if not may_acknowledge(person, esc):  # before anything about it: a stranger learns nothing
            return f"您不是{esc.public_id}的接收人或其上级，无法确认。"
        if esc.exercise_id != exercise_id:
            if esc.exercise_id is not None:
                return f"E{escalation_id}是演练通知，请回复：演练 收到 E{escalation_id}"
            return f"E{escalation_id}是真实灾情通知，不属于演练，请直接回复：收到 E{escalation_id}"
    if esc.acknowledged_at is not None:
        return _already_acknowledged(esc)
    if esc.status not in ACKABLE:
        return f"{esc.public_id}无需确认。"
    try:
        recorded = acknowledge(person, esc, "sms")
    except PermissionError:
        return f"您不是{esc.public_id}的接收人或其上级，无法确认。"
    if not recorded:  # another acknowledgement, or the incident's closing, landed while this one waited
        return _already_acknowledged(esc) if esc.acknowledged_at is not None else f"{esc.public_id}无需确认。"
    village = db.session.get(Division, esc.village_code) if esc.village_code else None
    return thanks_text(esc.public_id, village.name if village else None)


def thanks_text(public_id: str, village_name: str | None) -> str:
    """The answer to an acknowledgement recorded in the sender's name."""
    return f"已确认{public_id}{f'（{village_name}）' if village_name else ''}，谢谢。"


def _already_acknowledged(esc: Escalation) -> str:
    who = esc.acknowledged_by.name if esc.acknowledged_by else ""
    return f"{esc.public_id}已由{who}于{local_text(esc.acknowledged_at, '%H:%M')}确认，无需重复。"


def handle_ack(person: Person, command: Command, _message: InboundMessage, exercise_id: int | None) -> Handled:
    """The `收到 [E17]` SMS command (registered with reporter.commands)."""
    return Handled(Outcome.ACK, acknowledge_by_sms(person, command.target_id, exercise_id))


# ---- E6 -----------------------------------------------------------------------------------

def on_report_returned(report: Report, *, reason: str) -> None:
    """E6: tell the author their report was returned, with the reason (outbox SMS, caller's
    transaction). Recorded as a closed E6 escalation so the return shows in the history."""
    author = report.author or (db.session.get(Person, report.author_id) if report.author_id else None)
    if author is None or not author.active:
        log.warning("report %s returned but its author cannot be told (no active author)", report.id)
        return
    reason = " ".join((reason or "").split())[:300] or "未说明原因"
    village = report.village or db.session.get(Division, report.village_code)
    esc = opening.new_escalation(rule="E6", level="village", division_code=report.village_code, village=village,
                                 report_id=report.id, incident_id=report.incident_id, event_id=report.event_id,
                                 exercise_id=report.exercise_id, status=EscalationStatus.CLOSED, note=reason)
    esc.recipients = [author]
    db.session.flush()
    text = service.compose(f"【退回】您的报告R{report.id}已被退回：{reason}", "。请核实后重新报送或发送更正。",
                           report.exercise_id)
    queue_sms(author.phone, text, purpose="returned", person=author, report_id=report.id,
              escalation_id=esc.id, exercise_id=report.exercise_id)


# ---- closing ------------------------------------------------------------------------------

def closed_note(actor: Person | None) -> str:
    return f"事件已关闭（{actor.name}）" if actor is not None else "事件已关闭"


def on_incident_closed(incident: Incident, *, actor: Person | None) -> list[Escalation]:
    """A responder closed the incident: its escalations still waiting (open, or overdue with
    nobody above) close, so no deadline texts the next level about it and the board stops
    asking for an acknowledgement. Acknowledged and escalated ones keep their outcome.

    Caller's transaction, after the incident's own UPDATE is flushed: that row lock is the one
    `overdue.escalate_overdue` takes first, so an E4 racing the close either finishes before this
    UPDATE runs (its new E4 is then closed too) or waits and finds nothing open.

    Not sent for an incident closed by the officer's final report (核报): that says the
    situation is over, not that a responder has seen it, so the escalations keep waiting.
    There is no reopening: a later report from the village opens a new incident (with new
    escalations), so closed ones stay closed.
    """
    return _settle(incident.id, None, "incident", incident.exercise_id, actor)


def on_event_closed(event: Event, *, actor: Person | None) -> list[Escalation]:
    """The same for an event: its own escalations (E5 reminders) and all its incidents'.

    The event's open incidents were closed (UPDATE) first, in the same transaction, to keep the
    lock order `on_incident_closed` relies on (reporter.review.close_event)."""
    return _settle(None, event.id, "event", event.exercise_id, actor)


def _settle(incident_id: int | None, event_id: int | None, entity: str, exercise_id: int | None,
            actor: Person | None) -> list[Escalation]:
    db.session.flush()
    note = closed_note(actor)
    ids = service.close_waiting(note=note, incident_id=incident_id, event_id=event_id)
    if not ids:
        return []
    audit.record("escalations.close", entity, incident_id or event_id, actor=actor, exercise_id=exercise_id,
                 after={"escalations": [f"E{i}" for i in ids], "status": "closed", "note": note})
    return list(db.session.scalars(select(Escalation).where(Escalation.id.in_(ids)).order_by(Escalation.id)))

