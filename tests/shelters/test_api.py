"""GET /api/v1/shelters and /api/v1/shelters/nearest: GeoJSON, scope, filters, exact order."""

from __future__ import annotations

import random

import geojson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.exercises import Exercise
from core.extensions import db
from core.geo import haversine_m
from shelters import search, service
from shelters.models import Shelter, ShelterDrillState


def fc(response) -> dict:
    assert response.status_code == 200, response.get_data(as_text=True)
    data = response.get_json()
    assert geojson.loads(response.get_data(as_text=True)).is_valid
    return data


def codes(data) -> list[str]:
    return [f["properties"]["code"] for f in data["features"]]


def test_list_is_geojson_with_spec_fields_and_scoped(client, tree, make_person, api_token, make_shelter):
    make_shelter(tree.township, code="S1", capacity=300, occupancy=120, name="<b>码头镇中学</b>")
    make_shelter(tree.township2, code="S2")
    make_shelter(tree.other_county, code="S3")
    county = api_token(make_person("county", tree.county))
    data = fc(client.get("/api/v1/shelters", headers=county))
    assert codes(data) == ["S1", "S2"]
    props = data["features"][0]["properties"]
    for field in ("code", "name", "level", "class", "type", "division_code", "address", "effective_area_m2",
                  "capacity", "occupancy", "status", "facilities", "manager_name", "manager_phone", "updated_at",
                  "occupancy_updated_at", "free", "stale"):
        assert field in props
    assert props["free"] == 180 and props["name"] == "<b>码头镇中学</b>"
    township = api_token(make_person("township", tree.township))
    assert codes(fc(client.get("/api/v1/shelters", headers=township))) == ["S1"]
    # another township's shelter: not by list, not by code, not by township filter
    assert client.get("/api/v1/shelters/S2", headers=township).status_code == 404
    assert client.get(f"/api/v1/shelters?township={tree.township2.code}", headers=township).status_code == 403
    assert client.get("/api/v1/shelters/S1", headers=township).get_json()["properties"]["code"] == "S1"
    assert client.get("/api/v1/shelters").status_code == 401


def test_list_filters(client, tree, make_person, api_token, make_shelter):
    make_shelter(tree.township, code="S1", status="open")
    make_shelter(tree.township, code="S2", status="closed", shelter_class="long_term")
    make_shelter(tree.village3, code="S3", status="open")
    h = api_token(make_person("county", tree.county))
    assert codes(fc(client.get("/api/v1/shelters?status=open", headers=h))) == ["S1", "S3"]
    assert codes(fc(client.get(f"/api/v1/shelters?township={tree.township2.code}", headers=h))) == ["S3"]
    assert codes(fc(client.get("/api/v1/shelters?class=long_term", headers=h))) == ["S2"]
    for bad in ("status=gone", "township=1", "exercise=abc", "class=x"):
        r = client.get(f"/api/v1/shelters?{bad}", headers=h)
        assert r.status_code == 400 and "error" in r.get_json(), bad
    assert client.get("/api/v1/shelters?exercise=999", headers=h).status_code == 404


def test_nearest_orders_filters_and_reports_distance(client, tree, make_person, api_token, make_shelter):
    make_shelter(tree.township, code="NEAR", lon=115.901, lat=39.401, capacity=100, occupancy=90)
    make_shelter(tree.township, code="MID", lon=115.95, lat=39.45, capacity=500)
    make_shelter(tree.township, code="FULL", lon=115.9, lat=39.4, capacity=50, occupancy=50, status="full")
    make_shelter(tree.township, code="SHUT", lon=115.9, lat=39.4, status="closed")
    make_shelter(tree.township2, code="FAR", lon=116.1, lat=39.6, status="standby")
    h = api_token(make_person("county", tree.county))
    data = fc(client.get("/api/v1/shelters/nearest?lat=39.4&lon=115.9&people=5&limit=5", headers=h))
    assert codes(data) == ["NEAR", "MID", "FAR"]
    first = data["features"][0]["properties"]
    assert first["free"] == 10 and abs(first["distance_m"] - haversine_m(115.9, 39.4, 115.901, 39.401)) < 0.2
    assert codes(fc(client.get("/api/v1/shelters/nearest?lat=39.4&lon=115.9&people=11", headers=h))) == ["MID", "FAR"]
    by_village = fc(client.get(f"/api/v1/shelters/nearest?village={tree.village.code}&limit=1", headers=h))
    assert codes(by_village) == ["NEAR"]
    township2 = api_token(make_person("township", tree.township2))
    assert codes(fc(client.get("/api/v1/shelters/nearest?lat=39.4&lon=115.9", headers=township2))) == ["FAR"]
    assert client.get(f"/api/v1/shelters/nearest?village={tree.village.code}",
                      headers=township2).status_code == 404


def test_nearest_bad_parameters_are_400_json(client, tree, make_person, api_token):
    h = api_token(make_person("county", tree.county))
    for query in ("", "lat=39.4", "lat=abc&lon=115.9", "lat=91&lon=115.9", "lat=39.4&lon=nan",
                  "lat=39.4&lon=115.9&people=0", "lat=39.4&lon=115.9&people=-3", "lat=39.4&lon=115.9&limit=1000",
                  "lat=39.4&lon=115.9&people=1e9", "lat=48.85&lon=2.35", "lat=115.9&lon=39.4"):
        r = client.get(f"/api/v1/shelters/nearest?{query}", headers=h)
        assert r.status_code == 400, query
        assert set(r.get_json()["error"]) == {"code", "message"}


def brute(shelters: list[Shelter], lon: float, lat: float, people: int, limit: int, within: str | None = None,
          overlay: dict | None = None) -> list[str]:
    rows = []
    for s in shelters:
        occupancy, status = (overlay or {}).get(s.id, (s.occupancy, s.status))
        if status in ("open", "standby") and s.capacity - occupancy >= people and (
                within is None or within in (s.division_code, tree_parent[s.division_code])):
            rows.append((haversine_m(lon, lat, s.lon, s.lat), s.id, s.code))
    return [code for _d, _id, code in sorted(rows)[:limit]]


tree_parent: dict[str, str] = {}


def test_nearest_matches_brute_force_on_random_registry(tree, make_person):
    """Property-based: random shelters (clustered, duplicates, every status, drill overlays)
    and random queries, real and inside an exercise, whole registry and one township."""
    rng = random.Random(6)
    statuses = ["open", "standby", "full", "closed"]
    tree_parent.update({tree.township.code: tree.county.code, tree.village3.code: tree.township2.code})
    shelters = []
    for i in range(400):
        cluster = rng.random() < 0.3
        lon = 115.9 + (rng.gauss(0, 0.002) if cluster else rng.uniform(-0.4, 0.4))
        lat = 39.45 + (rng.gauss(0, 0.002) if cluster else rng.uniform(-0.3, 0.3))
        capacity = rng.randint(0, 300)
        shelters.append(Shelter(code=f"R{i}", name=f"r{i}", level="township", shelter_class="emergency",
                                type="park", division_code=rng.choice([tree.township.code, tree.village3.code]),
                                lon=lon, lat=lat, capacity=capacity, occupancy=rng.randint(0, capacity),
                                status=rng.choice(statuses), facilities=[]))
    db.session.add_all(shelters)
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.flush()
    overlay = {}
    for s in rng.sample(shelters, 150):
        overlay[s.id] = (rng.randint(0, s.capacity), rng.choice(statuses))
        db.session.add(ShelterDrillState(shelter_id=s.id, exercise_id=exercise.id, occupancy=overlay[s.id][0],
                                         status=overlay[s.id][1]))
    search.bump_index()
    db.session.commit()

    @settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(lon=st.floats(115.3, 116.5), lat=st.floats(39.0, 39.9), people=st.integers(1, 320),
           limit=st.integers(1, 20), drill=st.booleans(),
           within=st.sampled_from([None, tree.township2.code, tree.township.code]))
    def check(lon, lat, people, limit, drill, within):
        got = [h.shelter.code for h in search.nearest(lon, lat, people=people, limit=limit, within=within,
                                                        exercise_id=exercise.id if drill else None)]
        assert got == brute(shelters, lon, lat, people, limit, within, overlay if drill else None)

    check()


def test_index_follows_changes_from_any_path(tree, make_shelter):
    s1 = make_shelter(tree.township, code="S1", lon=115.9, lat=39.4)
    assert [h.shelter.code for h in search.nearest(115.9, 39.4)] == ["S1"]
    s2 = make_shelter(tree.township, code="S2", lon=115.9001, lat=39.4)
    assert [h.shelter.code for h in search.nearest(115.9001, 39.4, limit=1)] == ["S2"]
    s2.lon, s1.lon = 116.5, 116.6  # moved by an edit that renews the index token
    search.bump_index()
    db.session.commit()
    assert [h.shelter.code for h in search.nearest(116.6, 39.4, limit=2)] == ["S1", "S2"]


def test_state_update_by_api(client, tree, make_person, api_token, make_shelter):
    manager = make_person("officer_a", tree.village)
    shelter = make_shelter(tree.township, code="S1", capacity=100, manager_phone=manager.phone)
    make_shelter(tree.township2, code="S2")
    as_manager = api_token(manager)
    r = client.post("/api/v1/shelters/s1/state", json={"occupancy": 100, "note": "体育馆已满"}, headers=as_manager)
    assert r.status_code == 200 and r.get_json()["properties"]["status"] == "full"
    assert service.history(shelter, None)[0].channel == "api"
    for body, status in (({"occupancy": 151}, 422), ({"occupancy": -1}, 422), ({"occupancy": "12"}, 400),
                         ({"occupancy": True}, 400), ({"status": "gone"}, 400), ({}, 400), ([1], 400)):
        assert client.post("/api/v1/shelters/S1/state", json=body, headers=as_manager).status_code == status, body
    other = api_token(make_person("township", tree.township2))
    assert client.post("/api/v1/shelters/S1/state", json={"status": "closed"}, headers=other).status_code == 404
    stranger = api_token(make_person("officer_a", tree.village2))
    assert client.post("/api/v1/shelters/S1/state", json={"status": "closed"}, headers=stranger).status_code == 404
    make_shelter(tree.village2, code="S3")  # in the stranger's own village: visible, but not theirs to update
    assert client.post("/api/v1/shelters/S3/state", json={"status": "closed"}, headers=stranger).status_code == 403
    county = api_token(make_person("county", tree.county))
    r = client.post("/api/v1/shelters/S1/state", json={"occupancy": 40}, headers=county)
    assert r.status_code == 200 and r.get_json()["properties"]["status"] == "open"
