"""Opening escalation records with their outbox SMS, for one report or a whole intake batch.

The intake processor files hundreds of reports in one transaction (`reporter.processing`), so
the chains of a batch are opened together: one INSERT round per step up the ladder (a level
with nobody on duty is recorded and skipped, and the next step needs its id as the parent), then
the alert texts, which name the escalation's id. A single report is a batch of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Sequence, func, select
from sqlalchemy.orm import selectinload

from core.exercises import exercise_clock_speed, exercise_division, within
from core.extensions import db
from core.models import Division, Person, rows_by, utcnow
from core.txmemo import known, remember, remembered
from dispatch.models import Escalation, EscalationStatus
from dispatch.rules import next_level, repeat_due
from dispatch.service import alert_text, on_duty_along, on_duty_at
from messaging.outbox import queue_sms
from reporter.models import Incident, Report


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


def live_escalations(wanted: set[tuple[int, str]]) -> dict[tuple[int, str], Escalation]:
    """The escalation of each (incident id, level) still waiting (open or overdue, nobody has
    acknowledged it), the newest of each, in one query (and their recipients, whom `update_live`
    tells, in one more): a later report updates it instead of opening another beside it."""
    if not wanted:
        return {}
    found: dict[tuple[int, str], Escalation] = {}
    for esc in db.session.scalars(select(Escalation).options(selectinload(Escalation.recipients)).where(
            Escalation.incident_id.in_({i for i, _lv in wanted}), Escalation.level.in_({lv for _i, lv in wanted}),
            Escalation.status.in_((EscalationStatus.OPEN, EscalationStatus.OVERDUE)),
            Escalation.acknowledged_at.is_(None), Escalation.rule.in_(("E1", "E2", "E3", "E4")))
            .order_by(Escalation.id.desc())):
        if (esc.incident_id, esc.level) in wanted:
            found.setdefault((esc.incident_id, esc.level), esc)
    return found


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


@dataclass
class Chain:
    """One rule opened at one level for one report, climbing past levels with nobody on duty.

    Climbing stops at a level in `stop_levels` (the report notifies it anyway), at the top of the
    ladder, or at the edge of the exercise's division (a drill never reaches real offices outside it).
    """

    rule: str
    level: str
    village: Division
    incident: Incident | None
    report: Report | None
    exercise_id: int | None
    deadline_minutes: float | None
    parent: Escalation | None = None
    stop_levels: frozenset[str] = frozenset()
    opened: list[Escalation] = field(default_factory=list)

    def codes(self) -> dict[str, str | None]:
        """{level: division code} of this chain's level and every level above it."""
        climb = [self.level]
        while (above := next_level(climb[-1])) is not None:
            climb.append(above)
        return {lv: self.village.ancestor_code(lv) for lv in climb}

    def steps(self) -> list[tuple[str, Division, list[Person]]]:
        """(level, division, people on duty) of each escalation this chain records, bottom up:
        the last has people (it is the one told), or the climb ended without anyone."""
        codes = self.codes()
        divisions = remembered("divisions", _places_key(codes), lambda: rows_by(Division.code, codes.values()))
        staff = remembered("on_duty", _places_key(codes), lambda: on_duty_along(codes))
        scope = exercise_division(self.exercise_id)
        steps: list[tuple[str, Division, list[Person]]] = []
        current: str | None = self.level
        while current is not None:
            division = divisions.get(codes.get(current) or "")
            if division is None or not within(division, scope):
                break
            people = staff.get(current, [])
            steps.append((current, division, people))
            if people:
                break
            current = next_level(current)
            if current in self.stop_levels:
                break
        return steps


def open_chains(chains: list[Chain]) -> list[Chain]:
    """Open every chain's escalations (each chain's `opened`, bottom up) and queue the alert SMS
    of the escalations that have people. A step names the one below it as its parent, so it needs
    that one's id: on PostgreSQL the ids of a batch that climbs are taken from the sequence first
    and every step goes in one flush; elsewhere one flush per step up the ladder, for all chains."""
    _look_up_places(chains)
    planned = [chain.steps() for chain in chains]
    deepest = max((len(steps) for steps in planned), default=0)
    ids = _reserve_ids(sum(len(steps) for steps in planned)) if deepest > 1 else None
    for depth in range(deepest):
        for chain, steps in zip(chains, planned, strict=True):
            if depth < len(steps):
                _open_step(chain, *steps[depth])
                if ids is not None:
                    chain.opened[-1].id = next(ids)
        if ids is None or depth == deepest - 1:
            db.session.flush()
    for chain in chains:
        told = chain.opened[-1] if chain.opened and chain.opened[-1].recipients else None
        if told is None:
            continue
        below = chain.opened[-2] if len(chain.opened) > 1 else chain.parent
        climbed = chain.rule == "E4"
        text = alert_text(told, chain.village, chain.incident, chain.report, overdue=below if climbed else None)
        # A report's first alert goes ahead of every other text (messaging's "alerts" queue); an
        # E4, which follows up on an alert nobody answered, waits with the other follow-ups.
        purpose = "escalation" if climbed else "alert"
        for person in told.recipients:
            queue_sms(person.phone, text, purpose=purpose, person=person, escalation_id=told.id,
                      report_id=told.report_id, exercise_id=chain.exercise_id)
    return chains


_ESCALATION_IDS = Sequence("escalations_id_seq")  # the serial's sequence (PostgreSQL names it so)


def _reserve_ids(count: int) -> Iterator[int] | None:
    """`count` escalation ids from the sequence in one round trip (PostgreSQL), in order; None
    elsewhere (SQLite has no sequence: the ids come from each step's flush)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    return iter(sorted(db.session.scalars(select(_ESCALATION_IDS.next_value()).select_from(
        func.generate_series(1, count)))))


def _places_key(codes: dict[str, str | None]) -> tuple:
    return tuple(sorted(codes.items()))  # a batch files many reports of a township at once


def _look_up_places(chains: list[Chain]) -> None:
    """The divisions and people on duty of every chain's climb, in one query each for the whole
    batch (a province-wide batch climbs through hundreds of townships: a query each was most of
    its time), remembered for `Chain.steps`."""
    climbs = {_places_key(codes): codes for codes in (chain.codes() for chain in chains)}
    climbs = {key: codes for key, codes in climbs.items() if not known("divisions", key)}
    if not climbs:
        return
    divisions = rows_by(Division.code, {c for codes in climbs.values() for c in codes.values()})
    staff = on_duty_at({(lv, c) for codes in climbs.values() for lv, c in codes.items() if c})
    for key, codes in climbs.items():
        remember("divisions", key, {c: divisions[c] for c in codes.values() if c in divisions})
        remember("on_duty", key, {lv: staff[(lv, c)] for lv, c in codes.items() if (lv, c) in staff})


def _open_step(chain: Chain, level: str, division: Division, people: list[Person]) -> None:
    parent = chain.opened[-1] if chain.opened else chain.parent
    common = dict(rule=chain.rule, level=level, division_code=division.code, village=chain.village,
                  report_id=chain.report.id if chain.report is not None else None,
                  incident_id=getattr(chain.incident, "id", None), event_id=getattr(chain.incident, "event_id", None),
                  parent_id=parent.id if parent is not None else None, exercise_id=chain.exercise_id)
    if people:
        esc = new_escalation(**common, deadline_minutes=chain.deadline_minutes)
    else:
        esc = new_escalation(**common, status=EscalationStatus.ESCALATED,
                             note=f"{division.name}无人值班，已立即报上一级")
    esc.recipients = list(people)  # known (empty for a skipped level): spares a lazy load in the audit entry
    chain.opened.append(esc)


def open_chain(rule: str, level: str, village: Division, *, incident: Incident | None, report: Report | None,
               exercise_id: int | None, deadline_minutes: float | None, parent: Escalation | None = None,
               stop_levels: frozenset[str] = frozenset()) -> list[Escalation]:
    """One chain (an E4, say): `open_chains` of one."""
    [chain] = open_chains([Chain(rule, level, village, incident, report, exercise_id, deadline_minutes, parent,
                                 stop_levels)])
    return chain.opened
