"""Who takes part in a simulated drill: the villages of the area and the phones that play them.

The simulator speaks through the real webhook, so every village needs an active officer and
every township and county a responder. Where the real data has them they are used (the drill
plays their numbers; replies come back in the webhook's TwiML, so the officers' phones get
nothing). Where it does not, synthetic ones are made:

- a township with no village gets `per_township` villages coded `<township 9 digits>9NN`
  (the statistical codes never use 9xx inside a township) named `模拟N村`;
- a village without an officer, a township or county without a responder, gets a person with
  a `+86199…` phone named `模拟…`.

Synthetic rows live in the real tables so the real paths work unchanged; `drill_synthetic`
lists them. Synthetic people are activated for the drill and deactivated when it ends, so a
real flood never notifies a phone nobody holds.
"""

from __future__ import annotations

import random

from sqlalchemy import func, select, update

from core.divisions import upsert
from core.exercises import Exercise, ExerciseStatus
from core.extensions import db
from core.importing import refresh_planner_statistics
from core.models import Division, Person
from core.roles import OFFICER_ROLES, Role
from drills import service
from drills.models import SyntheticRecord
from drills.scenario import Village

SYNTHETIC_PHONE_PREFIX = "+86199"


def _synthetic_phones():
    return select(SyntheticRecord.ref).where(SyntheticRecord.kind == "person").scalar_subquery()


def _synthetic(kind: str, ref: str, exercise_id: int | None) -> None:
    db.session.add(SyntheticRecord(kind=kind, ref=ref, exercise_id=exercise_id))


def add_synthetic_villages(division: Division, per_township: int) -> int:
    """Give every township below `division` that has no village `per_township` synthetic ones."""
    if division.level in ("township", "village"):
        return 0
    field = getattr(Division, f"{division.level}_code")
    has_village = select(Division.township_code).where(Division.level == "village",
                                                       Division.township_code.is_not(None)).distinct()
    empty = list(db.session.scalars(select(Division).where(
        field == division.code, Division.level == "township", Division.code.not_in(has_village))))
    rows = []
    for township in empty:
        rng = random.Random(township.code)
        for n in range(1, per_township + 1):
            lon = township.lon + rng.uniform(-0.03, 0.03) if township.lon is not None else None
            lat = township.lat + rng.uniform(-0.03, 0.03) if township.lat is not None else None
            rows.append({"code": f"{township.code[:9]}{900 + n:03d}", "parent_code": township.code,
                         "name": f"模拟{n}村", "level": "village", "province_code": township.province_code,
                         "city_code": township.city_code, "county_code": township.county_code,
                         "township_code": township.code, "urban_rural_code": None, "virtual": False,
                         "lon": lon, "lat": lat})
    upsert(Division, rows, "code")
    known = service.synthetic_refs("division")
    for row in rows:
        if row["code"] not in known:
            _synthetic("division", row["code"], None)
    refresh_planner_statistics(Division, SyntheticRecord)
    return len(rows)


class PhoneBook:
    """Phones the simulator plays: officers by village, responders by township/county."""

    def __init__(self) -> None:
        self.officers: dict[str, dict[str, str]] = {}   # village code → {officer_a: phone, officer_b: phone}
        self.responders: dict[str, list[str]] = {}      # division code → phones
        self.synthetic_people: list[str] = []


def _next_phone_factory():
    used = set(db.session.scalars(select(Person.phone).where(Person.phone.like(SYNTHETIC_PHONE_PREFIX + "%"))))
    counter = [db.session.scalar(select(func.count()).select_from(SyntheticRecord)) or 0]

    def next_phone() -> str:
        while True:
            counter[0] += 1
            phone = f"{SYNTHETIC_PHONE_PREFIX}{counter[0]:08d}"
            if phone not in used:
                used.add(phone)
                return phone
    return next_phone


def prepare_people(villages: list[dict]) -> PhoneBook:
    """Find or make an officer for every village and a responder for every township and county.

    Synthetic people made by an earlier drill are reactivated instead of duplicated."""
    book = PhoneBook()
    codes = [v["code"] for v in villages]
    townships = sorted({v["township_code"] for v in villages if v["township_code"]})
    counties = sorted({v["county_code"] for v in villages if v["county_code"]})
    synthetic = service.synthetic_refs("person")
    if synthetic:
        db.session.execute(update(Person).where(Person.phone.in_(_synthetic_phones()), Person.active.is_(False))
                           .values(active=True), execution_options={"synchronize_session": False})
    people: list[tuple[str, str, str]] = []
    for start in range(0, len(codes) + len(townships) + len(counties), 5000):
        chunk = (codes + townships + counties)[start:start + 5000]
        people += list(db.session.execute(select(Person.division_code, Person.role, Person.phone).where(
            Person.division_code.in_(chunk), Person.active.is_(True), Person.on_duty.is_(True))))
    for division_code, role, phone in sorted(people):
        if role in OFFICER_ROLES:
            book.officers.setdefault(division_code, {}).setdefault(role, phone)
        elif role in ("township", "county"):
            book.responders.setdefault(division_code, []).append(phone)
    next_phone = _next_phone_factory()
    names = {v["code"]: v["name"] for v in villages}
    new_people = []
    for code in codes:
        if Role.OFFICER_A not in book.officers.get(code, {}):
            phone = next_phone()
            new_people.append(Person(name=f"模拟信息员·{names[code]}", phone=phone, role=Role.OFFICER_A,
                                     division_code=code, on_duty=True))
            book.officers.setdefault(code, {})[Role.OFFICER_A] = phone
    for code, role in [(t, "township") for t in townships] + [(c, "county") for c in counties]:
        if not book.responders.get(code):
            phone = next_phone()
            new_people.append(Person(name=f"模拟值班员·{code}", phone=phone, role=role, division_code=code,
                                     on_duty=True))
            book.responders[code] = [phone]
    for person in new_people:
        db.session.add(person)
        _synthetic("person", person.phone, None)
    refresh_planner_statistics(Person, SyntheticRecord)
    book.synthetic_people = sorted(synthetic | {p.phone for p in new_people})
    return book


def deactivate_synthetic_people() -> int:
    """After a drill: no real notification may go to a number nobody holds. Not while another
    simulated drill is running: its officers would turn into unknown senders mid-drill."""
    if db.session.scalar(select(Exercise.id).where(Exercise.status == ExerciseStatus.RUNNING,
                                                   Exercise.mode == "simulated").limit(1)) is not None:
        return 0
    count = db.session.execute(update(Person).where(Person.phone.in_(_synthetic_phones()), Person.active.is_(True))
                               .values(active=False), execution_options={"synchronize_session": False}).rowcount
    db.session.commit()
    return count


def as_villages(rows: list[dict], book: PhoneBook) -> list[Village]:
    return [Village(r["code"], r["name"], r["township_code"] or "", r["county_code"] or "",
                    has_backup=Role.OFFICER_B in book.officers.get(r["code"], {})) for r in rows]
