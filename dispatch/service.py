"""Database work of dispatch: who is on duty, the alert texts, closing escalations and the race
guards (opening them with their SMS is `dispatch.opening`)."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import case, or_, select, update

from core.exercises import DRILL_PREFIX
from core.extensions import db
from core.indicators import HAZARDS, format_figures
from core.models import Division, Person
from dispatch.models import Escalation, EscalationStatus
from messaging.gateway import MAX_SEGMENTS
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
    incident may climb township → county → city → province when levels have nobody on duty."""
    found = on_duty_at({(level, code) for level, code in codes.items() if code})
    return {level: people for (level, _code), people in found.items()}


def on_duty_at(wanted: set[tuple[str, str]]) -> dict[tuple[str, str], list[Person]]:
    """On-duty responders of each (level, division code), for any number of places in two
    queries: a batch's chains climb through hundreds of townships and counties at once.

    A responder who is off duty is skipped (SPEC §5), unless they named a backup (替班人,
    `Person.backup`) who is active and on duty: the backup is told in their place, so a level
    does not fall empty because its one responder went off shift. One step only: a backup's
    own backup is not asked."""
    if not wanted:
        return {}
    found: dict[tuple[str, str], list[Person]] = {}
    stand_ins: list[tuple[tuple[str, str], int]] = []  # (place, backup id) of off-duty people
    for person in db.session.scalars(select(Person).where(
            Person.role.in_({lv for lv, _c in wanted}), Person.division_code.in_({c for _lv, c in wanted}),
            Person.active.is_(True), or_(Person.on_duty.is_(True), Person.backup_id.is_not(None)))
            .order_by(Person.id)):
        place = (person.role, person.division_code)
        if place not in wanted:
            continue
        if person.on_duty:
            found.setdefault(place, []).append(person)
        else:
            stand_ins.append((place, person.backup_id))
    if stand_ins:
        backups = {p.id: p for p in db.session.scalars(select(Person).where(
            Person.id.in_({b for _p, b in stand_ins}), Person.active.is_(True), Person.on_duty.is_(True)))}
        for place, backup_id in stand_ins:
            backup = backups.get(backup_id)
            people = found.setdefault(place, [])
            if backup is not None and all(p.id != backup.id for p in people):
                people.append(backup)
        for place in [pl for pl, people in found.items() if not people]:
            del found[place]
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
