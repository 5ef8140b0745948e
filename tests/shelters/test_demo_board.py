"""The demo county's shelters and the board layer."""

from __future__ import annotations

import geojson
from sqlalchemy import select

from core import demo
from core.exercises import Exercise
from core.extensions import db
from core.geo import point_in_geometry
from core.people import by_phone
from shelters import service
from shelters.models import Shelter
from shelters.service import board_layer
from shelters.sms import sms_query, sms_update


def test_demo_load_creates_findable_shelters():
    lines = demo.load()
    shelters = list(db.session.scalars(select(Shelter).order_by(Shelter.id)))
    assert [s.code for s in shelters] == [f"S{i}" for i in range(1, 9)]
    assert len({s.division_code for s in shelters}) == 8  # spread over the townships
    assert all(point_in_geometry(s.lon, s.lat, demo.OUTLINE) for s in shelters)
    assert any("S1" in line and "+8613600000101" in line for line in lines)
    manager = by_phone("+8613600000101")
    assert manager is not None and not manager.on_duty and manager.password_hash is None
    done, reply = sms_update(manager, "S1", "occupancy", 100, None)
    assert done, reply
    officer = by_phone(demo.officer_phone(1))
    assert "S" in sms_query(officer, 50, None) and "最近" in sms_query(officer, 50, None)
    assert demo.load()[0] == "demo county 涿州市 already loaded"
    assert len(list(db.session.scalars(select(Shelter)))) == 8


def test_board_layer_is_scoped_geojson(tree, make_person, make_shelter):
    make_shelter(tree.township, code="S1", capacity=100, occupancy=30, name="<script>x</script>")
    make_shelter(tree.township2, code="S2")
    layer = board_layer(make_person("township", tree.township), None)
    assert geojson.loads(geojson.dumps(layer)).is_valid
    assert [f["properties"]["code"] for f in layer["features"]] == ["S1"]
    props = layer["features"][0]["properties"]
    assert {k: props[k] for k in ("name", "status", "capacity", "occupancy", "free", "stale")} == {
        "name": "<script>x</script>", "status": "open", "capacity": 100, "occupancy": 30, "free": 70, "stale": False}
    assert props["url"].startswith("/shelters/")
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    shelter = service.by_code("S1")
    service.change_state(shelter, person=None, channel="web", exercise_id=exercise.id, occupancy=100)
    db.session.commit()
    county = make_person("county", tree.county)
    drill = {f["properties"]["code"]: f["properties"]["status"] for f in board_layer(county, exercise.id)["features"]}
    real = {f["properties"]["code"]: f["properties"]["status"] for f in board_layer(county, None)["features"]}
    assert drill == {"S1": "full", "S2": "open"} and real == {"S1": "open", "S2": "open"}
    assert board_layer(county, exercise.id)["features"][0]["properties"]["url"] == f"/shelters/1?exercise={exercise.id}"
