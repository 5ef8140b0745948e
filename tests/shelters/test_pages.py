"""Shelter pages: scope on every route (404 by URL outside scope), CSRF, escaping, forms."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

from core.divisions import import_boundaries
from core.exercises import Exercise
from core.extensions import db
from core.models import AuditEntry
from shelters import service
from shelters.models import Shelter
from tests.conftest import csrf_token

XSS = "<script>alert(1)</script>"


def form_data(division_code: str, **changes) -> dict:
    data = {"code": "S20", "name": "码头镇中学", "level": "township", "shelter_class": "emergency", "type": "school",
            "division_code": division_code, "address": "", "lon": "115.905", "lat": "39.405", "datum": "wgs84",
            "effective_area_m2": "4500", "capacity": "", "facilities": ["water", "power"],
            "manager_name": "张三", "manager_phone": "13600000101"}
    data.update(changes)
    return data


def test_pages_need_staff_login(client, tree, make_shelter, make_person, login):
    shelter = make_shelter(tree.township)
    for path in ("/shelters/", f"/shelters/{shelter.id}", "/shelters/new", f"/shelters/{shelter.id}/edit",
                 "/shelters/map", "/shelters/outlines.json", "/shelters/plan/1"):
        assert client.get(path).status_code == 302, path  # to the login page


def test_township_cannot_reach_another_townships_shelter(client, tree, make_shelter, make_person, login):
    mine = make_shelter(tree.township, code="MINE")
    theirs = make_shelter(tree.township2, code="THEIRS", occupancy=5)
    login(make_person("township", tree.township))
    listing = client.get("/shelters/").get_data(as_text=True)
    assert ">MINE</a>" in listing and "THEIRS" not in listing
    assert client.get(f"/shelters/{mine.id}").status_code == 200
    for path in (f"/shelters/{theirs.id}", f"/shelters/{theirs.id}/edit"):
        assert client.get(path).status_code == 404, path
    token = csrf_token(client, f"/shelters/{mine.id}")
    r = client.post(f"/shelters/{theirs.id}/state", data={"occupancy": "0", "csrf_token": token})
    assert r.status_code == 404
    r = client.post(f"/shelters/{theirs.id}/edit", data={**form_data(tree.township.code, code="THEIRS"),
                                                          "csrf_token": token})
    assert r.status_code == 404
    db.session.refresh(theirs)
    assert theirs.occupancy == 5 and theirs.division_code == tree.township2.code
    # nor can they create a shelter in the other township
    r = client.post("/shelters/new", data={**form_data(tree.township2.code), "csrf_token": token})
    assert r.status_code == 400 and service.by_code("S20") is None


def test_county_creates_and_edits(client, tree, make_person, login):
    login(make_person("county", tree.county))
    token = csrf_token(client, "/shelters/new")
    r = client.post("/shelters/new", data={**form_data(tree.township.code), "csrf_token": token})
    assert r.status_code == 303
    shelter = service.by_code("S20")
    assert shelter.capacity == 3000 and shelter.facilities == ["power", "water"]
    assert shelter.manager_phone == "+8613600000101"
    page = client.get(f"/shelters/{shelter.id}/edit").get_data(as_text=True)
    assert 'value="S20"' in page and "码头镇中学" in page
    r = client.post(f"/shelters/{shelter.id}/edit", data={**form_data(tree.village3.code, capacity="250",
                                                                       name="东河村广场"), "csrf_token": token})
    assert r.status_code == 303
    db.session.refresh(shelter)
    assert (shelter.name, shelter.capacity, shelter.division_code) == ("东河村广场", 250, tree.village3.code)
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["shelter.create", "shelter.edit"]


def test_form_rejects_bad_values_and_missing_csrf(client, tree, make_person, login, make_shelter):
    make_shelter(tree.township, code="S1")
    login(make_person("county", tree.county))
    token = csrf_token(client, "/shelters/new")
    for changes, message in (({"lon": "39.4", "lat": "115.9"}, "不在中国境内"),  # in the page's language
                             ({"effective_area_m2": "-5"}, "为负数"),
                             ({"effective_area_m2": "", "capacity": ""}, "请填写容量"),
                             ({"manager_phone": "123"}, "不是电话号码"),
                             ({"code": "S1"}, "编号已被其他避难场所使用")):
        r = client.post("/shelters/new", data={**form_data(tree.township.code, **changes), "csrf_token": token})
        assert r.status_code == 400 and message in r.get_data(as_text=True), changes
    r = client.post("/shelters/new", data=form_data(tree.township.code))
    assert r.status_code == 400
    assert db.session.scalar(select(Shelter).where(Shelter.code == "S20")) is None


def test_state_update_from_the_web(client, tree, make_person, login, make_shelter):
    shelter = make_shelter(tree.township, code="S1", capacity=100)
    login(make_person("township", tree.township))
    token = csrf_token(client, f"/shelters/{shelter.id}")
    assert client.post(f"/shelters/{shelter.id}/state", data={"occupancy": "100"}).status_code == 400  # no CSRF
    r = client.post(f"/shelters/{shelter.id}/state", data={"occupancy": "100", "csrf_token": token})
    assert r.status_code == 303
    db.session.refresh(shelter)
    assert (shelter.occupancy, shelter.status) == (100, "full")
    r = client.post(f"/shelters/{shelter.id}/state", data={"occupancy": "500", "csrf_token": token},
                    follow_redirects=True)
    assert "1.5倍" in r.get_data(as_text=True)
    page = client.get(f"/shelters/{shelter.id}").get_data(as_text=True)
    assert "0 → 100" in page and "已满" in page


def test_user_entered_names_are_escaped(client, tree, make_person, login, make_shelter):
    shelter = make_shelter(tree.township, code="S1", name=XSS, manager_name=XSS, address=XSS)
    login(make_person("county", tree.county))
    for path in ("/shelters/", f"/shelters/{shelter.id}", f"/shelters/{shelter.id}/edit"):
        html = client.get(path).get_data(as_text=True)
        assert XSS not in html, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
    data = client.get("/api/v1/shelters").get_json()  # the map's JSON: raw text, shown via textContent
    assert data["features"][0]["properties"]["name"] == XSS


def test_map_page_uses_local_leaflet_and_no_inline_script(client, tree, make_person, login):
    login(make_person("county", tree.county))
    r = client.get("/shelters/map")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    assert "/static/vendor/leaflet/leaflet.js" in html and "/shelters/static/map.js" in html
    assert client.get("/static/vendor/leaflet/leaflet.js").status_code == 200
    js = client.get("/shelters/static/map.js").get_data(as_text=True)
    assert "textContent" in js and "innerHTML" not in js
    assert client.get("/shelters/outlines.json").get_json()["type"] == "FeatureCollection"


def test_list_filters_and_nav_link(client, tree, make_person, login, make_shelter):
    make_shelter(tree.township, code="A1", capacity=100, occupancy=95)
    make_shelter(tree.township2, code="B1", capacity=100, shelter_class="long_term")
    login(make_person("county", tree.county))
    page = client.get("/shelters/").get_data(as_text=True)
    assert 'href="/shelters/"' in page and ">A1</a>" in page and ">B1</a>" in page
    assert ">A1</a>" not in client.get("/shelters/?free=10").get_data(as_text=True)
    assert ">A1</a>" not in client.get(f"/shelters/?township={tree.township2.code}").get_data(as_text=True)
    assert ">B1</a>" not in client.get("/shelters/?class=emergency").get_data(as_text=True)
    assert client.get("/shelters/?exercise=99").status_code == 404


def test_scope_of_outlines_exercises_and_filters(client, tree, make_person, login, make_shelter, tmp_path):
    square = {"type": "Polygon", "coordinates": [[[115.0, 38.0], [116.5, 38.0], [116.5, 40.0], [115.0, 40.0],
                                                  [115.0, 38.0]]]}
    for code in ("130681", "130682"):
        (tmp_path / f"{code}.json").write_text(json.dumps(square))
    import_boundaries([tmp_path / "130681.json", tmp_path / "130682.json"], datum="wgs84")
    theirs = make_shelter(tree.township2, code="THEIRS")
    mine = make_shelter(tree.township, code="MINE")
    other_drill = Exercise(name="定州演练", division_code=tree.other_county.code, scenario="flood")
    db.session.add(other_drill)
    db.session.commit()
    login(make_person("township", tree.township))
    codes = [f["properties"]["division_code"] for f in client.get("/shelters/outlines.json").get_json()["features"]]
    assert codes == [tree.county.code]
    assert "THEIRS" not in client.get(f"/shelters/?township={tree.township2.code}").get_data(as_text=True)
    assert client.get(f"/shelters/{mine.id}?exercise={other_drill.id}").status_code == 404
    token = csrf_token(client, f"/shelters/{mine.id}")
    r = client.post(f"/shelters/{mine.id}/state?exercise={other_drill.id}",
                    data={"occupancy": "3", "csrf_token": token})
    assert r.status_code == 404
    assert client.get(f"/api/v1/shelters?exercise={other_drill.id}").status_code == 404
    db.session.refresh(mine)
    assert mine.occupancy == 0 and theirs.id


def test_openapi_describes_the_shelter_routes(client, tree, make_person, api_token):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/api/v1/shelters", "/api/v1/shelters/nearest", "/api/v1/shelters/{code}"} <= set(paths)
    assert "people" in [p["name"] for p in paths["/api/v1/shelters/nearest"]["get"]["parameters"]]


def test_pages_render_in_english_too(client, tree, make_person, login, make_shelter):
    shelter = make_shelter(tree.township, code="S1")
    login(make_person("county", tree.county))
    for path in ("/shelters/?lang=en", f"/shelters/{shelter.id}", "/shelters/new", "/shelters/map"):
        assert client.get(path).status_code == 200, path
    assert re.search(r'<option selected value="township">', client.get("/shelters/new").get_data(as_text=True))


def test_list_pages_and_drill_filters(client, tree, make_person, login, make_shelter):
    for i in range(3):
        make_shelter(tree.township, code=f"P{i:03d}", capacity=10)
    db.session.add_all([Shelter(code=f"P{i:03d}", name=f"p{i}", level="township", shelter_class="emergency",
                                type="park", division_code=tree.township.code, lon=115.9, lat=39.4, capacity=10,
                                occupancy=0, status="open", facilities=[]) for i in range(3, 105)])
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    service.change_state(service.by_code("P000"), person=None, channel="web", exercise_id=exercise.id, occupancy=10)
    db.session.commit()
    login(make_person("county", tree.county))
    first = client.get("/shelters/").get_data(as_text=True)
    assert "共 105 处" in first and ">P099</a>" in first and ">P100</a>" not in first and "page=2" in first
    assert ">P104</a>" in client.get("/shelters/?page=2").get_data(as_text=True)
    drill_full = client.get(f"/shelters/?exercise={exercise.id}&status=full").get_data(as_text=True)
    assert "共 1 处" in drill_full and ">P000</a>" in drill_full and "演练 EXERCISE" in drill_full
    assert "共 0 处" in client.get("/shelters/?status=full").get_data(as_text=True)
    assert "共 104 处" in client.get(f"/shelters/?exercise={exercise.id}&free=1").get_data(as_text=True)


def test_form_problems_in_the_page_language(app, client, tree, make_person, login):
    """The importer's reasons, shown on the shelter form: Chinese in the Chinese interface
    (no "outside China (lon,lat order?)"), English in the English one."""
    login(make_person("county", tree.county))
    token = csrf_token(client, "/shelters/new")
    data = {**form_data(tree.township.code, lon="39.4", lat="115.9"), "csrf_token": token}
    with app.app_context():
        chinese = client.post("/shelters/new?lang=zh", data=data).get_data(as_text=True)
    assert "不在中国境内" in chinese and "outside China" not in chinese
    with app.app_context():
        english = client.post("/shelters/new?lang=en", data=data).get_data(as_text=True)
    assert "outside China (lon,lat order?)" in english and "不在中国境内" not in english
