"""Silence (E5, SPEC §5): villages that owe a daily report and have sent nothing today.

For every open event marked daily-report, each village of the event's townships owes one
report (a nil report counts) per local calendar day. From SILENCE_DEADLINE (12:00 local) a
silent village's officer A is reminded; SILENCE_STEP_MINUTES after that reminder officer B;
the same interval later the township responders get one text listing their silent villages.
Each step is an E5 escalation record with a unique `dedupe_key` (day, exercise, village,
step): several workers may sweep at once, each step still happens once, and the board sees it.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import exists, literal, select
from sqlalchemy.exc import IntegrityError

from core.exercises import Exercise, exercise_clause
from core.extensions import db
from core.localtime import zone
from core.models import Division, Person, utcnow
from core.roles import OFFICER_ROLES, Role
from dispatch import opening, service
from dispatch.models import Escalation, EscalationStatus
from messaging.outbox import queue_sms
from messaging.templates import sms_template
from reporter.models import CaseStatus, Event, Incident, Report

REMIND_OFFICER = sms_template(
    "reminder_officer",
    '【零报告提醒】{village}今天({month}月{day}日)尚未报送灾情。无灾情请回复"零报告"，有灾情请按格式报送。',
    "E5: a village has not reported today")
REMIND_TOWNSHIP = sms_template(
    "reminder_township",
    "【零报告提醒】{township}今天({month}月{day}日)有{count}个村未报送：{villages}。请督促报送(含零报告)。",
    "E5: the township's list of silent villages")

log = logging.getLogger("zaibao.dispatch.silence")
STEPS = ("a", "b", "township")


def _key(day, exercise_id: int | None, village_code: str, step: str) -> str:
    return f"E5:{day.isoformat()}:{exercise_id or 0}:{village_code}:{step}"


@dataclass
class _Step:
    """One step due for one village: who is told, and the record that says so."""

    village: Division
    step: str
    key: str
    people: list[Person]
    note: str
    escalation: Escalation | None = None


def _record(steps: list[_Step], event: Event, now: datetime) -> list[_Step]:
    """Insert the steps' records together (one INSERT for an event's villages, not a savepoint
    and a flush each); the steps recorded. Another sweep having taken one of them (its unique
    key) rolls the batch back, and they are recorded one at a time, skipping those."""
    try:
        with db.session.begin_nested():
            for item in steps:
                item.escalation = _new_record(item, event, now)
            db.session.flush()
        return steps
    except IntegrityError:
        recorded = []
        for item in steps:
            try:
                with db.session.begin_nested():
                    item.escalation = _new_record(item, event, now)
                    db.session.flush()
                recorded.append(item)
            except IntegrityError:
                item.escalation = None
        return recorded


def _new_record(item: _Step, event: Event, now: datetime) -> Escalation:
    township = item.step == "township"
    code = item.village.ancestor_code("township") if township else item.village.code
    esc = opening.new_escalation(rule="E5", level="township" if township else "village", division_code=code,
                                 village=item.village, event_id=event.id, exercise_id=event.exercise_id,
                                 status=EscalationStatus.CLOSED, note=item.note, dedupe_key=item.key)
    esc.created_at = now  # the sweep's clock: the next step is timed from it
    esc.recipients = item.people
    return esc


def _day(event: Event, now: datetime, tz: ZoneInfo, deadline: time, step_minutes: float,
         clocks: dict[int, tuple[datetime, float]]):
    """(day, day start, step) of this event's daily report; None while nothing is due yet.

    Real traffic and live drills: the local calendar day, due from SILENCE_DEADLINE, one step
    every SILENCE_STEP_MINUTES. A simulated drill runs on its scenario clock (`--speed`): its
    day is the exercise (a ×60 drill started at 23:50 must not begin a new day at midnight),
    reminders are due as soon as its county office turns daily reporting on (the scenario
    chooses that moment), and a step is SILENCE_STEP_MINUTES of scenario time.
    """
    if event.exercise_id in clocks:
        started, speed = clocks[event.exercise_id]
        return started.astimezone(tz).date(), started, timedelta(minutes=step_minutes / speed)
    local = now.astimezone(tz)
    today = local.date()
    if local.time() < deadline or (event.daily_report_since and event.daily_report_since > today):
        return None
    return today, datetime.combine(today, time(0), tz).astimezone(UTC), timedelta(minutes=step_minutes)


def sweep_silence(now: datetime | None = None) -> int:
    """Send the reminders that are due; returns the number of steps taken.

    Commits after each event: a province-wide drill (52,019 villages, ~170 county events) once
    held one transaction for minutes, so no reminder went out until the whole province was
    swept (measured in the province drill, see bench/README.md).
    """
    now = now or utcnow()
    cfg = current_app.config
    tz = zone()
    hour, minute = (int(x) for x in str(cfg["SILENCE_DEADLINE"]).split(":"))
    taken = 0
    events = db.session.scalars(select(Event).where(Event.daily_report.is_(True), Event.status == CaseStatus.OPEN)
                                .order_by(Event.id)).all()
    # (start, speed) of the simulated drills among them, read once: the sweep commits after each event
    clocks = {ex.id: (ex.started_at, ex.clock_speed) for ex in db.session.scalars(select(Exercise).where(
        Exercise.id.in_({e.exercise_id for e in events if e.exercise_id}))) if ex.simulated_clock}
    for event in events:
        due = _day(event, now, tz, time(hour, minute), float(cfg["SILENCE_STEP_MINUTES"]), clocks)
        if due is not None:
            taken += _sweep_event(event, *due, now)
        db.session.commit()
    db.session.commit()
    return taken


def _sweep_event(event: Event, today: date, day_start: datetime, step: timedelta, now: datetime) -> int:
    """One event's due steps, with a handful of queries whatever the number of villages. Only
    villages with a step still to take are read: through the afternoon of a province-wide flood
    most silent villages have had all three, and reading all of them every sweep kept a worker busy."""
    townships = set(db.session.scalars(select(Incident.township_code).where(
        Incident.event_id == event.id, Incident.township_code.is_not(None)).distinct()))
    if not townships:
        return 0
    prefix = f"E5:{today.isoformat()}:{event.exercise_id or 0}:"
    reported = exists().where(Report.village_code == Division.code, Report.received_at >= day_start,
                              exercise_clause(Report.exercise_id, event.exercise_id))
    finished = exists().where(Escalation.dedupe_key == literal(prefix) + Division.code + literal(":township"))
    silent = db.session.scalars(select(Division).where(
        Division.level == "village", Division.township_code.in_(townships), ~reported, ~finished)
        .order_by(Division.code)).all()
    if not silent:
        return 0
    done = dict(db.session.execute(select(Escalation.dedupe_key, Escalation.created_at).where(
        Escalation.village_code.in_([v.code for v in silent]), Escalation.rule == "E5",
        Escalation.dedupe_key.like(prefix + "%"))).all())
    wanted = [(village, _next_step(today, event.exercise_id, village.code, done, now - step)) for village in silent]
    wanted = [(village, next_step) for village, next_step in wanted if next_step is not None]
    officers: dict[tuple[str, str], list[Person]] = defaultdict(list)
    for person in db.session.scalars(select(Person).where(
            Person.role.in_(OFFICER_ROLES), Person.active.is_(True),
            Person.division_code.in_([v.code for v, next_step in wanted if next_step != "township"]))
            .order_by(Person.id)):
        officers[(person.division_code, person.role)].append(person)
    responders: dict[str, list[Person]] = {}
    due: list[_Step] = []
    for village, next_step in wanted:
        key = _key(today, event.exercise_id, village.code, next_step)
        if next_step == "a":
            due.append(_Step(village, "a", key, officers[(village.code, Role.OFFICER_A)], "已提醒信息员A"))
        elif next_step == "b":
            people = officers[(village.code, Role.OFFICER_B)]
            due.append(_Step(village, "b", key, people, "已提醒信息员B" if people else "无B岗信息员"))
        else:
            township_code = village.ancestor_code("township")
            if township_code not in responders:
                responders[township_code] = service.on_duty("township", township_code)
            due.append(_Step(village, "township", key, responders[township_code], "村未报送，已提醒乡镇"))
    recorded = _record(due, event, now) if due else []
    to_township: dict[str, list[tuple[Division, Escalation]]] = defaultdict(list)
    for item in recorded:
        if item.step == "township":
            to_township[item.village.ancestor_code("township")].append((item.village, item.escalation))
        else:
            _remind_officer(item, event, today)
    for township_code, items in to_township.items():
        _tell_township(township_code, items, event, today)
    return len(recorded)


def _next_step(today: date, exercise_id: int | None, village_code: str, done: dict[str, datetime],
               taken_by: datetime) -> str | None:
    """The village's next step if it is due: A first, then B and the township each a step after
    the one before (taken at or before `taken_by`)."""
    keys = {s: _key(today, exercise_id, village_code, s) for s in STEPS}
    if keys["a"] not in done:
        return "a"
    if keys["b"] not in done:
        return "b" if done[keys["a"]] <= taken_by else None
    if keys["township"] not in done:
        return "township" if done[keys["b"]] <= taken_by else None
    return None


def _remind_officer(item: _Step, event: Event, today: date) -> None:
    text = service.compose(f"【零报告提醒】{item.village.name}今天({today.month}月{today.day}日)尚未报送灾情",
                           "。无灾情请回复\"零报告\"，有灾情请按格式报送。", event.exercise_id)
    for person in item.people:
        queue_sms(person.phone, text, purpose="reminder", person=person, escalation_id=item.escalation.id,
                  exercise_id=event.exercise_id)


def _tell_township(township_code: str, items: list[tuple[Division, Escalation]], event: Event,
                   today: date) -> None:
    township = db.session.get(Division, township_code)
    names = "、".join(v.name for v, _e in items)
    text = service.compose(f"【零报告提醒】{township.name if township else ''}今天({today.month}月{today.day}日)"
                           f"有{len(items)}个村未报送：{names}", "。请督促报送(含零报告)。", event.exercise_id)
    first = items[0][1]
    for person in first.recipients:
        queue_sms(person.phone, text, purpose="reminder", person=person, escalation_id=first.id,
                  exercise_id=event.exercise_id)
