"""Relocation plans (SPEC §6): an event's relocated people assigned to shelters, and the SMS
that tell each village where to go. The assignment itself is the pure `shelters.relocation`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from core import audit
from core.extensions import db
from core.models import Division, Person
from core.roles import OFFICER_ROLES
from core.scope import can_access, scope_clause
from messaging.gateway import fit_reply
from messaging.outbox import queue_sms
from messaging.templates import sms_template
from reporter.models import Event, Incident
from shelters import relocation, rules, service

PLAN = sms_template("relocation_plan", "【安置方案】{village}: {placements}。", "where a village's people go")
PLAN_UNPLACED = sms_template(
    "relocation_plan_unplaced",
    "【安置方案】{village}: {placements}；另有{count}人暂无安置，请联系乡镇应急办。",
    "a plan that could not place everyone")


@dataclass
class PlanRow:
    village_code: str
    village_name: str
    township_name: str
    shelter_id: int
    shelter_code: str
    shelter_name: str
    people: int
    distance_m: int


@dataclass
class Plan:
    event_id: int
    event_name: str
    exercise_id: int | None
    rows: list[PlanRow] = field(default_factory=list)
    unplaced: dict[str, int] = field(default_factory=dict)  # village code → people
    villages: dict[str, Division] = field(default_factory=dict)
    no_location: list[str] = field(default_factory=list)  # village codes lacking coordinates
    measured_from: dict[str, str] = field(default_factory=dict)  # village code → township used instead
    relocated_total: int = 0
    free_total: int = 0

    @property
    def placed(self) -> int:
        return sum(r.people for r in self.rows)

    @property
    def person_km(self) -> float:
        return sum(r.people * r.distance_m for r in self.rows) / 1000


class PlanError(Exception):
    """404-like: no such event, or not in the person's scope."""


def relocation_plan(event_id: int, person: Person) -> Plan:
    """Place each incident's relocated people of the event in shelters with free places.

    Both incidents and shelters are limited to the person's scope (a township responder plans
    for their township; the county office for the county). Drill events use drill occupancy.
    """
    event = db.session.get(Event, event_id)
    if event is None or not person.active or not (
            event.county_code in person.division.lineage_codes() or can_access(person, event.county_code)):
        raise PlanError("event not found")
    incidents = list(db.session.scalars(
        select(Incident).where(Incident.event_id == event.id, Incident.relocated > 0,
                               scope_clause(person, Incident.village_code))))
    people: dict[str, int] = {}
    villages: dict[str, Division] = {}
    for incident in incidents:
        people[incident.village_code] = people.get(incident.village_code, 0) + (incident.relocated or 0)
        villages[incident.village_code] = incident.village
    plan = Plan(event.id, event.name, event.exercise_id, villages=villages,
                relocated_total=sum(people.values()))
    demands = []
    for code, count in sorted(people.items()):
        origin = service.located(villages[code])
        if origin is None or origin.level not in ("village", "township"):
            plan.no_location.append(code)
            plan.unplaced[code] = count
            continue
        if origin.code != code:
            plan.measured_from[code] = origin.name
        demands.append(relocation.Demand(code, count, origin.lon, origin.lat))
    shelters = {s.code: (s, st) for s, st in service.filtered(person, exercise_id=event.exercise_id)
                if st.status in rules.SEARCHABLE and st.free > 0}
    plan.free_total = sum(st.free for _s, st in shelters.values())
    supplies = [relocation.Supply(code, st.free, s.lon, s.lat) for code, (s, st) in sorted(shelters.items())]
    solution = relocation.solve(demands, supplies)
    for a in solution.assignments:
        shelter = shelters[a.shelter][0]
        village = villages[a.demand]
        township = village.parent.name if village.parent else ""
        plan.rows.append(PlanRow(a.demand, village.name, township, shelter.id, shelter.code, shelter.name,
                                 a.people, a.distance_m))
    for code, count in solution.unplaced.items():
        plan.unplaced[code] = plan.unplaced.get(code, 0) + count
    return plan


def plan_sms_texts(plan: Plan) -> dict[str, str]:
    """One text per village with placements or unplaced people: where its people go."""
    by_village: dict[str, list[PlanRow]] = {}
    for row in plan.rows:
        by_village.setdefault(row.village_code, []).append(row)
    texts = {}
    for code in sorted(set(by_village) | set(plan.unplaced)):
        name = plan.villages[code].name if code in plan.villages else code
        parts = [f"{r.people}人→{r.shelter_code} {r.shelter_name[:10]}({service.km_text(r.distance_m)})"
                 for r in by_village.get(code, [])]
        text = f"【安置方案】{name}: " + ("；".join(parts) if parts else "暂无可分配的避难场所")
        if plan.unplaced.get(code):
            text += f"；另有{plan.unplaced[code]}人暂无安置，请联系乡镇应急办"
        texts[code] = fit_reply(text + "。", plan.exercise_id)
    return texts


def send_plan(plan: Plan, person: Person) -> int:
    """Queue the plan to each village's active officers (A and B) (outbox, purpose "plan"); not committed."""

    sent = 0
    for code, text in plan_sms_texts(plan).items():
        officers = db.session.scalars(select(Person).where(
            Person.division_code == code, Person.active.is_(True),
            Person.role.in_(OFFICER_ROLES)).order_by(Person.role))
        for officer in officers:
            queue_sms(officer.phone, text, purpose="plan", person=officer, exercise_id=plan.exercise_id)
            sent += 1
    audit.record("shelters.plan_sent", "event", plan.event_id, after={"sms": sent}, actor=person,
                 exercise_id=plan.exercise_id)
    return sent
