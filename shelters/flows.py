"""Shelter workflows called from routes, the reporter's SMS handling, jobs and the CLI.

`sms_query` and `sms_update` run inside the reporter's transaction and do not commit.
Replies are Chinese, at most 2 UCS-2 segments; during an exercise they leave room for the
`【演练】` prefix the reporter adds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from core.extensions import db
from core.gateway import fit
from core.models import Division, Person
from core.scope import can_access, scope_clause
from reporter.models import Event, Incident
from shelters import relocation, rules, service
from shelters.models import STATUS_NAMES, Shelter

DRILL_PREFIX = "【演练】"
ACTIONS = ("occupancy", "full", "closed", "open")


def _reply(text: str, exercise_id: int | None) -> str:
    if exercise_id is None:
        return fit(text)
    return fit(DRILL_PREFIX + text).removeprefix(DRILL_PREFIX)


def _km(metres: float) -> str:
    return f"{metres / 1000:.1f}km"


def sms_area(person: Person) -> Division:
    """Where an SMS shelter query searches: the sender's county (shelters are usually in
    another village or the township seat), or their own division when they sit above it."""
    division = person.division
    if division.level in ("village", "township") and division.county_code:
        return db.session.get(Division, division.county_code) or division
    return division


def _located(division: Division) -> Division | None:
    """The division itself when it has coordinates, else its nearest ancestor that has them
    (a village without coordinates is searched from its township seat)."""
    for code in reversed(division.lineage_codes()):
        candidate = division if code == division.code else db.session.get(Division, code)
        if candidate is not None and candidate.lon is not None and candidate.lat is not None:
            return candidate
    return None


def sms_query(person: Person, people: int | None, exercise_id: int | None) -> str:
    """`避难 [120人]`: reply with the 3 nearest open/standby shelters with free places."""
    division = _located(person.division)
    if division is None:
        return _reply(f"{person.division.name}未登记坐标，无法查找附近避难场所，请联系乡镇应急办。", exercise_id)
    need = max(1, people or 1)
    hits = service.nearest(division.lon, division.lat, people=need, limit=3,
                           within=sms_area(person).code, exercise_id=exercise_id)
    if not hits:
        wanted = f"空位≥{need}的" if people else "有空位的"
        return _reply(f"{division.name}附近没有{wanted}开放或待命避难场所，请联系乡镇应急办。", exercise_id)
    head = f"距{division.name}最近" + (f"可容纳{need}人" if people else "有空位") + "的避难场所:"
    parts = [f"{i}.{h.shelter.code} {h.shelter.name[:12]} {_km(h.distance_m)} 空位{h.state.free}"
             for i, h in enumerate(hits, start=1)]
    return _reply(head + "；".join(parts), exercise_id)


def may_update(person: Person, shelter: Shelter) -> bool:
    """The shelter's manager (by phone) or a responder whose scope holds the shelter."""
    if person is None or not person.active:
        return False
    if shelter.manager_phone and person.phone == shelter.manager_phone:
        return True
    return person.is_staff and can_access(person, shelter.division)


def _summary(shelter: Shelter, state: service.State) -> str:
    return (f"{shelter.code} {shelter.name[:12]}: 入住{state.occupancy}/容量{shelter.capacity}，"
            f"空位{state.free}，状态{STATUS_NAMES[state.status]}")


def sms_update(person: Person, code: str, action: str, value: int | None,
               exercise_id: int | None) -> tuple[bool, str]:
    """`避难 S12 入住230|满|关闭|开放` from the manager or a responder above: (done, reply).

    Occupancy above capacity × 1.5 is refused as implausible; at or above capacity the
    shelter turns full (and says so); lowered below capacity a full shelter opens again.
    """
    shelter = service.by_code(code)
    if shelter is None:
        return False, _reply(f"未找到避难场所{service.normalise_code(code)[:20]}，请核对编号。", exercise_id)
    if not may_update(person, shelter):
        return False, _reply(f"抱歉，您不是避难场所{shelter.code}的管理员，无权更新。"
                             "如需更新请联系该场所管理员或乡镇应急办。", exercise_id)
    if action not in ACTIONS:
        return False, _reply("无法识别的操作。格式: 避难 S12 入住230 / 满 / 关闭 / 开放", exercise_id)
    if action == "occupancy":
        if value is None:
            return False, _reply(f"请写明入住人数，例如: 避难 {shelter.code} 入住230", exercise_id)
        problem = rules.occupancy_problem(value, shelter.capacity)
        if problem:
            return False, _reply(f"{problem}，{shelter.code}未更新。请核对后重发。", exercise_id)
        state = service.change_state(shelter, person=person, channel="sms", exercise_id=exercise_id,
                                     occupancy=value)
        extra = "已满员，不再推荐给新转移人员。" if state.status == "full" else ""
    else:
        state = service.change_state(shelter, person=person, channel="sms", exercise_id=exercise_id,
                                     status=action)
        extra = "仍满员。" if action == "open" and state.status == "full" else ""
    return True, _reply(f"已更新{_summary(shelter, state)}。{extra}", exercise_id)


# ---- relocation plans ------------------------------------------------------------------------

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
        origin = _located(villages[code])
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
        parts = [f"{r.people}人→{r.shelter_code} {r.shelter_name[:10]}({_km(r.distance_m)})"
                 for r in by_village.get(code, [])]
        text = f"【安置方案】{name}: " + ("；".join(parts) if parts else "暂无可分配的避难场所")
        if plan.unplaced.get(code):
            text += f"；另有{plan.unplaced[code]}人暂无安置，请联系乡镇应急办"
        texts[code] = _reply(text + "。", plan.exercise_id)
    return texts


def send_plan(plan: Plan, person: Person) -> int:
    """Queue the plan to each village's active officers (A and B) (outbox, purpose "plan"); not committed."""
    from core import audit
    from dispatch.outbox import queue_sms

    sent = 0
    for code, text in plan_sms_texts(plan).items():
        officers = db.session.scalars(select(Person).where(
            Person.division_code == code, Person.active.is_(True),
            Person.role.in_(("officer_a", "officer_b"))).order_by(Person.role))
        for officer in officers:
            queue_sms(officer.phone, text, purpose="plan", person=officer, exercise_id=plan.exercise_id)
            sent += 1
    audit.record("shelters.plan_sent", "event", plan.event_id, after={"sms": sent}, actor=person,
                 exercise_id=plan.exercise_id)
    return sent
