"""Database work of dispatch: who is on duty, opening escalation records with their outbox SMS,
texts, delivery updates and the JSON shape the API and the board share."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import case, or_, select, update

from core.exercises import DRILL_PREFIX, exercise_clock_speed, exercise_division, within
from core.extensions import db
from core.indicators import HAZARDS, format_figures
from core.models import Division, Person, utcnow
from core.txmemo import remembered
from dispatch.models import Escalation, EscalationStatus
from dispatch.rules import next_level, repeat_due
from messaging.gateway import MAX_SEGMENTS
from messaging.outbox import queue_sms
from messaging.templates import sms_template
from reporter.models import Incident, Report

# The alert texts (SPEC §5) as named templates (messaging.templates); alert_text writes them.
ALERT = sms_template("alert", '【灾情】{place} {hazard} {figures} R{report}。回复"收到 E{escalation}"确认。',
                     "a new report's escalation to responders")
ALERT_OVERDUE = sms_template(
    "alert_overdue",
    '【灾情】{place} {hazard} {figures} R{report}，{below}未按时确认E{overdue}。回复"收到 E{escalation}"确认。',
    "E4: the level below did not acknowledge in time")
ALERT_UPDATE = sms_template(
    "alert_update",
    '【灾情更新】{place} {hazard} {figures} R{report}。回复"收到 E{escalation}"确认。',
    "a later report changed the figures of an escalation still waiting")
ALERT_BRIEF = sms_template("alert_brief", '【灾情】{summary}。回复"收到 E{escalation}"确认。',
                           "an alert whose details were cut to fit two segments, or without a report")
ALERT_UPDATE_BRIEF = sms_template("alert_update_brief", '【灾情更新】{summary}。回复"收到 E{escalation}"确认。',
                                  "an update whose details were cut to fit two segments")

LEVEL_NAMES = {"village": "村", "township": "乡镇", "county": "县", "city": "市", "province": "省"}
KEY_FIGURES = ("deaths", "missing", "relocated", "houses_collapsed")


# ---- people and places --------------------------------------------------------------------

def on_duty(level: str, division_code: str) -> list[Person]:
    """Active, on-duty responders of that level's division (the role names the level)."""
    return on_duty_along({level: division_code}).get(level, [])


def on_duty_along(codes: dict[str, str]) -> dict[str, list[Person]]:
    """On-duty responders of several levels ({level: division code}) in one query: a new
    incident may climb township → county → city → province when levels have nobody on duty,
    and this is the webhook's hot path.

    A responder who is off duty is skipped (SPEC §5), unless they named a backup (替班人,
    `Person.backup`) who is active and on duty: the backup is told in their place, so a level
    does not fall empty because its one responder went off shift. One step only: a backup's
    own backup is not asked."""
    wanted = {(level, code) for level, code in codes.items() if code}
    if not wanted:
        return {}
    found: dict[str, list[Person]] = {}
    stand_ins: list[tuple[str, int]] = []  # (level, backup id) of off-duty people
    for person in db.session.scalars(select(Person).where(
            Person.role.in_({lv for lv, _c in wanted}), Person.division_code.in_({c for _lv, c in wanted}),
            Person.active.is_(True), or_(Person.on_duty.is_(True), Person.backup_id.is_not(None)))
            .order_by(Person.id)):
        if (person.role, person.division_code) not in wanted:
            continue
        if person.on_duty:
            found.setdefault(person.role, []).append(person)
        else:
            stand_ins.append((person.role, person.backup_id))
    if stand_ins:
        backups = {p.id: p for p in db.session.scalars(select(Person).where(
            Person.id.in_({b for _lv, b in stand_ins}), Person.active.is_(True), Person.on_duty.is_(True)))}
        for level, backup_id in stand_ins:
            backup = backups.get(backup_id)
            people = found.setdefault(level, [])
            if backup is not None and all(p.id != backup.id for p in people):
                people.append(backup)
        for level in [lv for lv, people in found.items() if not people]:
            del found[level]
    return found


def with_stand_ins(people: list[Person]) -> list[Person]:
    """The same people as they stand now: each one still on duty, or in their place their
    backup (active and on duty); nobody twice. Used when a notice is repeated later."""
    chosen: list[Person] = []
    for person in people:
        if not person.active:
            continue
        if not person.on_duty:
            person = person.backup if person.backup is not None and person.backup.active \
                and person.backup.on_duty else None
        if person is not None and all(p.id != person.id for p in chosen):
            chosen.append(person)
    return chosen


def place_label(village: Division) -> str:
    """`王庄村(码头镇)`: the village and its township, as responders know them."""
    parent = village.parent
    return f"{village.name}({parent.name})" if parent is not None and village.level == "village" else village.name


def key_figures(incident: Incident) -> str:
    """The key figures the officers reported, and only those: a figure nobody gave is absent,
    never "0" (a responder reading 死亡0 believes nobody died; the board shows "–")."""
    return format_figures({k: getattr(incident, k, None) for k in KEY_FIGURES}, KEY_FIGURES)


def compose(head: str, tail: str, exercise_id: int | None) -> str:
    """Keep the whole text within 2 UCS-2 segments, cutting the head, never the reply hint."""
    limit = 67 * MAX_SEGMENTS - len(tail) - (len(DRILL_PREFIX) if exercise_id is not None else 0)
    if len(head) > limit:
        head = head[: max(0, limit - 1)] + "…"
    return head + tail


def alert_text(esc: Escalation, village: Division, incident: Incident | None, report: Report | None,
               overdue: Escalation | None = None, update: bool = False, repeat: bool = False) -> str:
    """SPEC §5: `【灾情】王庄村(码头镇) 洪涝 死亡0 失踪1 转移120 R1203。回复"收到 E17"确认。`
    (`【灾情更新】` when a later report changes the figures of an escalation still waiting,
    `【灾情·再次提醒】` when nobody acknowledged it and it is repeated before it climbs)."""
    hazard = HAZARDS.get(getattr(incident, "hazard", None) or "", getattr(incident, "hazard", "") or "")
    tag = "【灾情更新】" if update else "【灾情·再次提醒】" if repeat else "【灾情】"
    head = f"{tag}{place_label(village)} {hazard} {key_figures(incident)}"
    if report is not None:
        head += f" R{report.id}"
    if overdue is not None:
        below = db.session.get(Division, overdue.division_code)
        head += f"，{below.name if below else ''}未按时确认E{overdue.id}"
    return compose(head, f"。回复\"收到 E{esc.id}\"确认。", esc.exercise_id)


# ---- opening escalations ------------------------------------------------------------------

def new_escalation(*, rule: str, level: str, division_code: str, village: Division | None,
                   report_id: int | None = None, incident_id: int | None = None,
                   event_id: int | None = None, parent_id: int | None = None,
                   exercise_id: int | None = None, note: str | None = None,
                   deadline_minutes: float | None = None, status: str = EscalationStatus.OPEN,
                   dedupe_key: str | None = None) -> Escalation:
    now = utcnow()
    if deadline_minutes:
        deadline_minutes /= exercise_clock_speed(exercise_id)
    place = village or db.session.get(Division, division_code)
    esc = Escalation(
        rule=rule, level=level, division_code=division_code,
        village_code=village.code if village is not None else None,
        township_code=place.ancestor_code("township") if place else None,
        county_code=place.ancestor_code("county") if place else None,
        report_id=report_id, incident_id=incident_id, event_id=event_id, parent_id=parent_id,
        exercise_id=exercise_id, note=note, status=status, created_at=now, dedupe_key=dedupe_key,
        deadline_at=(now + timedelta(minutes=deadline_minutes)
                     if deadline_minutes and status == EscalationStatus.OPEN else None))
    esc.repeats_sent = 0
    esc.repeat_at = repeat_at_for(esc, 0)
    if status == EscalationStatus.ESCALATED:
        esc.escalated_at = now
    db.session.add(esc)
    return esc


def repeat_at_for(esc: Escalation, sent: int) -> datetime | None:
    """When the escalation's next repeat is due after `sent` repeats (rules.repeat_due), or None."""
    if esc.deadline_at is None or esc.created_at is None:
        return None
    window = (esc.deadline_at - esc.created_at).total_seconds() / 60
    minutes = repeat_due(window, int(current_app.config.get("ESCALATION_REPEATS", 1)), sent)
    return esc.created_at + timedelta(minutes=minutes) if minutes is not None else None


def live_escalation(incident_id: int, level: str) -> Escalation | None:
    """The escalation of this incident still waiting at this level (open or overdue, nobody has
    acknowledged it): a later report updates it instead of opening another beside it."""
    return db.session.scalar(select(Escalation).where(
        Escalation.incident_id == incident_id, Escalation.level == level,
        Escalation.status.in_((EscalationStatus.OPEN, EscalationStatus.OVERDUE)),
        Escalation.acknowledged_at.is_(None), Escalation.rule.in_(("E1", "E2", "E3", "E4")))
        .order_by(Escalation.id.desc()).limit(1))


def update_live(esc: Escalation, rule: str, village: Division, incident: Incident, report: Report) -> None:
    """The waiting escalation now speaks of this report (the more serious rule kept); its people
    get one 【灾情更新】 SMS with the new figures. Its deadline runs on from the first notice."""
    if rule > esc.rule:  # E1 < E2 < E3 < E4: the more serious reason to answer
        esc.rule = rule
    esc.report_id = report.id
    text = alert_text(esc, village, incident, report, update=True)
    for person in esc.recipients:
        if person.active:
            queue_sms(person.phone, text, purpose="escalation", person=person, escalation_id=esc.id,
                      report_id=report.id, exercise_id=esc.exercise_id)


def open_chain(rule: str, level: str, village: Division, *, incident: Incident | None, report: Report | None,
               exercise_id: int | None, deadline_minutes: float | None, parent: Escalation | None = None,
               stop_levels: frozenset[str] = frozenset()) -> list[Escalation]:
    """Open `rule` at `level`; a level with nobody on duty is recorded and skipped at once.

    Climbing stops at a level in `stop_levels` (this report notifies it anyway), at the top of
    the ladder, or at the edge of the exercise's division (a drill never reaches real offices
    outside it).
    """
    scope = exercise_division(exercise_id)
    created: list[Escalation] = []
    climb = [level]
    while (above := next_level(climb[-1])) is not None:
        climb.append(above)
    codes = {lv: village.ancestor_code(lv) for lv in climb}
    key = tuple(sorted(codes.items()))  # the intake processor files many reports of a township at once
    divisions = remembered("divisions", key, lambda: {d.code: d for d in db.session.scalars(select(Division).where(
        Division.code.in_([c for c in codes.values() if c])))})
    staff = remembered("on_duty", key, lambda: on_duty_along(codes))
    current: str | None = level
    while current is not None:
        code = codes.get(current)
        division = divisions.get(code) if code else None
        if division is None or not within(division, scope):
            break
        people = staff.get(current, [])
        common = dict(rule=rule, level=current, division_code=code, village=village,
                      report_id=report.id if report is not None else None,
                      incident_id=getattr(incident, "id", None), event_id=getattr(incident, "event_id", None),
                      parent_id=parent.id if parent is not None else None, exercise_id=exercise_id)
        if people:
            esc = new_escalation(**common, deadline_minutes=deadline_minutes)
            esc.recipients = people
            db.session.flush()
            text = alert_text(esc, village, incident, report, overdue=parent if rule == "E4" else None)
            for person in people:
                queue_sms(person.phone, text, purpose="escalation", person=person, escalation_id=esc.id,
                          report_id=esc.report_id, exercise_id=exercise_id)
            created.append(esc)
            break
        esc = new_escalation(**common, status=EscalationStatus.ESCALATED,
                             note=f"{division.name}无人值班，已立即报上一级")
        esc.recipients = []  # known empty: spares a lazy load when the audit lists recipients
        db.session.flush()
        created.append(esc)
        parent = esc
        current = next_level(current)
        if current in stop_levels:
            break
    return created


def claim_open(escalation_id: int, **values) -> bool:
    """Move an escalation out of 'open' if (and only if) it is still open: the one race guard
    between an acknowledgement and its deadline. The caller commits."""
    result = db.session.execute(update(Escalation).where(
        Escalation.id == escalation_id, Escalation.status == EscalationStatus.OPEN).values(**values))
    return result.rowcount == 1


# Waiting escalations a closing settles: open (deadline running) and overdue (deadline passed with
# nobody above). Acknowledged and escalated ones keep their outcome; the E4 an escalated one
# opened is itself open and is settled.
SETTLED_BY_CLOSING = (EscalationStatus.OPEN, EscalationStatus.OVERDUE)


def close_waiting(*, note: str, incident_id: int | None = None, event_id: int | None = None) -> list[int]:
    """Close the still-waiting escalations of an incident, or of an event (its own and its
    incidents'), in one conditional UPDATE; returns the ids it closed. The caller commits.

    Like `claim_open`, the WHERE is the race guard: an acknowledgement or an E4 landing first
    moves the row out of the waiting states, and this UPDATE (re-checked on PostgreSQL after
    the other transaction commits) leaves it alone; landing second, they find it closed.
    The note is appended to any note already there (an overdue one says why it is overdue).
    """
    if (incident_id is None) == (event_id is None):
        raise ValueError("close_waiting needs exactly one of incident_id, event_id")
    if incident_id is not None:
        whose = Escalation.incident_id == incident_id
    else:
        whose = or_(Escalation.event_id == event_id,
                    Escalation.incident_id.in_(select(Incident.id).where(Incident.event_id == event_id)))
    noted = case((Escalation.note.is_(None), note), else_=Escalation.note + "；" + note)
    stmt = (update(Escalation).where(whose, Escalation.status.in_(SETTLED_BY_CLOSING),
                                     Escalation.acknowledged_at.is_(None))
            .values(status=EscalationStatus.CLOSED, note=noted).returning(Escalation.id)
            .execution_options(synchronize_session="fetch"))  # loaded copies see the change
    return sorted(db.session.execute(stmt).scalars())


def close_exercise_escalations(exercise_id: int) -> int:
    """A drill ended: its escalations still open close, so no deadline fires for it. The caller commits."""
    return db.session.execute(
        update(Escalation).where(Escalation.exercise_id == exercise_id, Escalation.status == EscalationStatus.OPEN)
        .values(status=EscalationStatus.CLOSED, note="演练结束")).rowcount


def ack_minutes() -> float:
    return float(current_app.config["ESCALATION_ACK_MINUTES"])
