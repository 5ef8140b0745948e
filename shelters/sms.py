"""The shelters' SMS commands (SPEC §3.1): `避难 [120人]` and `避难 S12 入住230|满|关闭|开放`.

Registered with `reporter.commands` at app creation; they run inside the intake's transaction
and do not commit. Replies are Chinese, at most 2 UCS-2 segments; during an exercise they leave
room for the `【演练】` prefix the intake adds.
"""

from __future__ import annotations

from core.extensions import db
from core.models import Division, Person
from core.scope import can_access
from messaging.gateway import fit_reply
from messaging.templates import sms_template
from reporter.commands import Handled
from reporter.grammar import Command
from reporter.models import InboundMessage, Outcome
from shelters import rules, search, service
from shelters.models import STATUS_NAMES, Shelter
from shelters.rules import ShelterStatus

# The 避难 replies as named templates (messaging.templates).
NO_COORDINATES = sms_template(
    "shelter_no_coordinates",
    "{division}未登记坐标，无法查找附近避难场所，请联系乡镇应急办。",
    "避难 from a division without coordinates")
NONE_NEAR = sms_template("shelter_none_near", "{division}附近没有{wanted}开放或待命避难场所，请联系乡镇应急办。",
                         "避难 with no shelter found")
NEAREST = sms_template("shelter_nearest", "距{division}最近{need}的避难场所:{shelters}", "避难: the nearest shelters")
UNKNOWN_SHELTER = sms_template("shelter_unknown", "未找到避难场所{code}，请核对编号。", "避难 S… with an unknown code")
NOT_MANAGER = sms_template(
    "shelter_not_manager",
    "抱歉，您不是避难场所{code}的管理员，无权更新。如需更新请联系该场所管理员或乡镇应急办。",
    "a shelter update from someone else")
BAD_ACTION = sms_template("shelter_bad_action", "无法识别的操作。格式: 避难 S12 入住230 / 满 / 关闭 / 开放",
                          "a shelter update that is not one")
NO_OCCUPANCY = sms_template(
    "shelter_no_occupancy",
    "请写明入住人数，例如: 避难 {code} 入住230",
    "入住 without a number")
IMPLAUSIBLE = sms_template("shelter_implausible", "{problem}，{code}未更新。请核对后重发。", "an occupancy refused")
UPDATED = sms_template(
    "shelter_updated",
    "已更新{code} {name}: 入住{occupancy}/容量{capacity}，空位{free}，状态{status}。{extra}",
    "a shelter updated")

ACTIONS = ("occupancy", "full", "closed", "open")


def sms_area(person: Person) -> Division:
    """Where an SMS shelter query searches: the sender's county (shelters are usually in
    another village or the township seat), or their own division when they sit above it."""
    division = person.division
    if division.level in ("village", "township") and division.county_code:
        return db.session.get(Division, division.county_code) or division
    return division


def sms_query(person: Person, people: int | None, exercise_id: int | None) -> str:
    """`避难 [120人]`: reply with the 3 nearest open/standby shelters with free places."""
    division = service.located(person.division)
    if division is None:
        return fit_reply(f"{person.division.name}未登记坐标，无法查找附近避难场所，请联系乡镇应急办。", exercise_id)
    need = max(1, people or 1)
    hits = search.nearest(division.lon, division.lat, people=need, limit=3,
                           within=sms_area(person).code, exercise_id=exercise_id)
    if not hits:
        wanted = f"空位≥{need}的" if people else "有空位的"
        return fit_reply(f"{division.name}附近没有{wanted}开放或待命避难场所，请联系乡镇应急办。", exercise_id)
    head = f"距{division.name}最近" + (f"可容纳{need}人" if people else "有空位") + "的避难场所:"
    parts = [f"{i}.{h.shelter.code} {h.shelter.name[:12]} {service.km_text(h.distance_m)} 空位{h.state.free}"
             for i, h in enumerate(hits, start=1)]
    return fit_reply(head + "；".join(parts), exercise_id)


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
        return False, fit_reply(f"未找到避难场所{service.normalise_code(code)[:20]}，请核对编号。", exercise_id)
    if not may_update(person, shelter):
        return False, fit_reply(f"抱歉，您不是避难场所{shelter.code}的管理员，无权更新。"
                             "如需更新请联系该场所管理员或乡镇应急办。", exercise_id)
    if action not in ACTIONS:
        return False, fit_reply("无法识别的操作。格式: 避难 S12 入住230 / 满 / 关闭 / 开放", exercise_id)
    if action == "occupancy":
        if value is None:
            return False, fit_reply(f"请写明入住人数，例如: 避难 {shelter.code} 入住230", exercise_id)
        problem = rules.occupancy_problem(value, shelter.capacity)
        if problem:
            return False, fit_reply(f"{problem}，{shelter.code}未更新。请核对后重发。", exercise_id)
        state = service.change_state(shelter, person=person, channel="sms", exercise_id=exercise_id,
                                     occupancy=value)
        extra = "已满员，不再推荐给新转移人员。" if state.status == ShelterStatus.FULL else ""
    else:
        state = service.change_state(shelter, person=person, channel="sms", exercise_id=exercise_id,
                                     status=action)
        extra = "仍满员。" if action == ShelterStatus.OPEN and state.status == ShelterStatus.FULL else ""
    return True, fit_reply(f"已更新{_summary(shelter, state)}。{extra}", exercise_id)


def handle_query(person: Person, command: Command, _message: InboundMessage, exercise_id: int | None) -> Handled:
    return Handled(Outcome.SHELTER_QUERY, sms_query(person, command.value, exercise_id))


def handle_update(person: Person, command: Command, _message: InboundMessage, exercise_id: int | None) -> Handled:
    done, reply = sms_update(person, command.shelter_code, command.shelter_action, command.value, exercise_id)
    return Handled(Outcome.SHELTER_UPDATE if done else Outcome.REJECTED, reply)
