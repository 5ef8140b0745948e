"""Demo shelters for `flask demo load`: eight shelters across 涿州市's townships.

Each sits a few hundred metres from its township's seat (kept inside the county outline) and
has a manager who is a registered person, so `避难 S1 入住120` from the printed phone works.
Shelter managers have no role of their own in the kernel: they are registered as off-duty
township-level people without a password (never notified, cannot log in to the web).
"""

from __future__ import annotations

from sqlalchemy import select

from core import demo
from core.divisions import children
from core.extensions import db
from core.geo import point_in_geometry
from core.models import Boundary, Division, Person, utcnow
from shelters import rules, search, service
from shelters.models import Shelter
from shelters.rules import ShelterStatus

# (name suffix, class, type, facilities, effective area m²)
KINDS = [
    ("中学操场", "emergency", "school", ["water", "toilets", "power"], 4500),
    ("文化广场", "emergency", "square", ["water", "toilets"], 6000),
    ("人民公园", "short_term", "park", ["water", "toilets", "power", "medical"], 9000),
    ("体育馆", "long_term", "stadium", ["water", "power", "toilets", "kitchen", "shower", "heating"], 3000),
    ("中心小学", "short_term", "school", ["water", "power", "toilets", "kitchen"], 2400),
    ("社区服务中心", "short_term", "community_center", ["water", "power", "toilets", "accessible"], 900),
    ("农贸广场", "emergency", "square", ["water"], 3600),
    ("滨河公园", "emergency", "park", ["toilets"], 7500),
]
OFFSETS = [(0.004, 0.003), (-0.004, 0.002), (0.003, -0.004), (-0.003, -0.003)]


def manager_phone(index: int) -> str:
    return f"+86136000001{index:02d}"


@demo.contributor
def load_shelters(county: Division) -> list[str]:
    """Create S1…S8 (idempotent: existing codes are left alone) and return lines to print."""
    townships = [t for t in children(county) if t.lon is not None and t.lat is not None]
    if not townships:
        return ["shelters: no township with coordinates, no demo shelters"]
    boundary = db.session.get(Boundary, county.code)
    created = []
    for i, (suffix, klass, kind, facilities, area) in enumerate(KINDS, start=1):
        code = f"S{i}"
        if service.by_code(code) is not None:
            continue
        township = townships[(i - 1) % len(townships)]
        dlon, dlat = OFFSETS[(i - 1) % len(OFFSETS)]
        lon, lat = round(township.lon + dlon, 6), round(township.lat + dlat, 6)
        if boundary is not None and not point_in_geometry(lon, lat, boundary.geometry):
            lon, lat = township.lon, township.lat
        phone = manager_phone(i)
        name = township.name.removesuffix("镇").removesuffix("乡").removesuffix("街道办事处").removesuffix("街道")
        if db.session.scalar(select(Person.id).where(Person.phone == phone, Person.active.is_(True))) is None:
            db.session.add(Person(name=f"{name}{suffix}管理员", phone=phone, role="township",
                                  division_code=township.code, on_duty=False))
        capacity = rules.default_capacity(area)
        occupancy = 0 if i % 3 else capacity // 4
        shelter = Shelter(code=code, name=f"{name}{suffix}", level="township", shelter_class=klass, type=kind,
                          division_code=township.code, address=f"{county.name}{township.name}", lon=lon, lat=lat,
                          effective_area_m2=float(area), capacity=capacity, occupancy=occupancy,
                          status=ShelterStatus.OPEN if occupancy else ShelterStatus.STANDBY, facilities=facilities,
                          manager_name=f"{name}{suffix}管理员", manager_phone=phone,
                          occupancy_updated_at=utcnow() if occupancy else None)
        db.session.add(shelter)
        created.append(shelter)
    if created:
        db.session.flush()
        search.bump_index()
    lines = [f"shelters: {len(created)} demo shelters (S1…S{len(KINDS)}) at /shelters/ and /shelters/map"]
    if created:
        first = created[0]
        lines.append(f"  shelter manager of {first.code} {first.name}: {first.manager_phone} "
                     f"(SMS: 避难 {first.code} 入住120 · officers: 避难 120人)")
    return lines
