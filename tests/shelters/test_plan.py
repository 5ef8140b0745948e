"""Relocation plans for an event: flow, page, CSV/XLSX, SMS to village officers, scope."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from core.extensions import db
from messaging.models import OutboundSms
from reporter.models import Event, Incident
from shelters.plans import PlanError, relocation_plan
from tests.conftest import csrf_token


def event_with(tree, relocated: dict) -> Event:
    event = Event(county_code=tree.county.code, hazard="flood", name="2026-07-30 涿州市 洪涝")
    db.session.add(event)
    db.session.flush()
    for village, people in relocated.items():
        db.session.add(Incident(village_code=village.code, township_code=village.township_code,
                                county_code=tree.county.code, hazard="flood", event_id=event.id, relocated=people))
    db.session.commit()
    return event


def test_plan_fills_nearest_within_capacity_and_lists_unplaced(tree, make_person, make_shelter):
    near = make_shelter(tree.township, code="NEAR", lon=115.912, lat=39.412, capacity=100, occupancy=40)
    make_shelter(tree.township, code="SHUT", lon=115.911, lat=39.411, capacity=1000, status="closed")
    far = make_shelter(tree.township2, code="FAR", lon=116.05, lat=39.52, capacity=150, status="standby")
    event = event_with(tree, {tree.village: 100, tree.village3: 120})
    plan = relocation_plan(event.id, make_person("county", tree.county))
    placed = {(r.village_code, r.shelter_code): r.people for r in plan.rows}
    assert placed == {(tree.village.code, "NEAR"): 60, (tree.village3.code, "FAR"): 120,
                      (tree.village.code, "FAR"): 30}
    assert plan.unplaced == {tree.village.code: 10}
    assert plan.relocated_total == 220 and plan.placed == 210 and plan.free_total == near.capacity - 40 + far.capacity
    # a township responder plans only for its own villages and shelters
    own = relocation_plan(event.id, make_person("township", tree.township))
    assert {r.shelter_code for r in own.rows} == {"NEAR"} and own.unplaced == {tree.village.code: 40}


def test_plan_scope_and_unknown_event(tree, make_person):
    event = event_with(tree, {tree.village: 10})
    for person in (make_person("county", tree.other_county), make_person("officer_a", tree.other_village)):
        try:
            relocation_plan(event.id, person)
            raise AssertionError("out-of-scope plan was built")
        except PlanError:
            pass
    try:
        relocation_plan(999, make_person("county", tree.county))
        raise AssertionError("plan for a missing event")
    except PlanError:
        pass


def test_plan_page_exports_and_sms(client, tree, make_person, login, make_shelter):
    make_shelter(tree.township, code="S1", name="<i>码头镇中学</i>", lon=115.912, lat=39.412, capacity=50)
    officer_a = make_person("officer_a", tree.village)
    officer_b = make_person("officer_b", tree.village)
    event = event_with(tree, {tree.village: 80})
    login(make_person("county", tree.county))
    page = client.get(f"/shelters/plan/{event.id}").get_data(as_text=True)
    assert "&lt;i&gt;码头镇中学&lt;/i&gt;" in page and "<i>码头镇中学" not in page
    assert "附近避难场所空位不足" in page and "30" in page
    csv_text = client.get(f"/shelters/plan/{event.id}.csv").get_data().decode("utf-8-sig")
    assert csv_text.splitlines()[0] == "乡镇,村,村代码,避难场所编号,避难场所名称,安置人数,距离(公里)"
    assert f"码头镇,王庄村,{tree.village.code},S1,<i>码头镇中学</i>,50," in csv_text
    book = load_workbook(io.BytesIO(client.get(f"/shelters/plan/{event.id}.xlsx").get_data()))
    assert book["安置方案"]["F2"].value == 50 and book["未安置"]["D2"].value == 30
    assert client.post(f"/shelters/plan/{event.id}/send").status_code == 400  # CSRF required
    assert db.session.scalar(select(OutboundSms)) is None
    token = csrf_token(client, f"/shelters/plan/{event.id}")
    r = client.post(f"/shelters/plan/{event.id}/send", data={"csrf_token": token})
    assert r.status_code == 303
    sms = list(db.session.scalars(select(OutboundSms).order_by(OutboundSms.to_phone)))
    assert {s.to_phone for s in sms} == {officer_a.phone, officer_b.phone}
    assert all(s.purpose == "plan" and "50人→S1" in s.body and "另有30人暂无安置" in s.body for s in sms)
    assert all(len(s.body) <= 134 for s in sms)


def test_plan_pages_scoped(client, tree, make_person, login):
    event = event_with(tree, {tree.village: 10})
    login(make_person("county", tree.other_county))
    for path in (f"/shelters/plan/{event.id}", f"/shelters/plan/{event.id}.csv", f"/shelters/plan/{event.id}.xlsx"):
        assert client.get(path).status_code == 404, path
    token = csrf_token(client, "/shelters/")
    assert client.post(f"/shelters/plan/{event.id}/send", data={"csrf_token": token}).status_code == 404


def test_plan_exports_never_turn_names_into_formulas(client, tree, make_person, login, make_shelter):
    formula = '=HYPERLINK("http://evil.example","点我")'
    make_shelter(tree.township, code="S1", name=formula, lon=115.912, lat=39.412, capacity=50)
    event = event_with(tree, {tree.village: 10})
    login(make_person("county", tree.county))
    csv_text = client.get(f"/shelters/plan/{event.id}.csv").get_data().decode("utf-8-sig")
    assert ",\"'=HYPERLINK(" in csv_text
    book = load_workbook(io.BytesIO(client.get(f"/shelters/plan/{event.id}.xlsx").get_data()))
    cell = book["安置方案"]["E2"]
    assert cell.value == formula and cell.data_type == "s"


def test_shelter_list_links_to_plans_of_open_events(client, tree, make_person, login):
    event = event_with(tree, {tree.village: 10})
    login(make_person("township", tree.township))
    assert f'href="/shelters/plan/{event.id}"' in client.get("/shelters/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/shelters/")})
    login(make_person("county", tree.other_county))
    assert "/shelters/plan/" not in client.get("/shelters/").get_data(as_text=True)


def test_village_without_coordinates_is_measured_from_its_township(tree, make_person, make_shelter, client, login):
    make_shelter(tree.township, code="S1", lon=115.90, lat=39.40, capacity=100)
    tree.village.lon = tree.village.lat = None
    event = event_with(tree, {tree.village: 30, tree.other_village: 5})
    county = make_person("county", tree.county)
    plan = relocation_plan(event.id, county)
    assert [(r.village_code, r.shelter_code, r.people, r.distance_m) for r in plan.rows] == [
        (tree.village.code, "S1", 30, 0)]
    assert plan.measured_from == {tree.village.code: "码头镇"}
    tree.township.lon = tree.township.lat = None
    db.session.commit()
    plan = relocation_plan(event.id, county)
    assert plan.rows == [] and plan.unplaced == {tree.village.code: 30} and plan.no_location == [tree.village.code]
    login(county)
    assert "村和乡镇均未登记坐标" in client.get(f"/shelters/plan/{event.id}").get_data(as_text=True)
