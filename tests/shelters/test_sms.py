"""SMS shelter commands through the exact functions the reporter calls:
`shelters.sms.sms_query(person, people, exercise_id)` and
`shelters.sms.sms_update(person, code, action, value, exercise_id)`."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.exercises import Exercise
from core.extensions import db
from core.models import AuditEntry, utcnow
from messaging.gateway import segment_count
from shelters import search, service
from shelters.models import OccupancyRecord, Shelter
from shelters.sms import sms_query, sms_update


def test_query_lists_three_nearest_with_free_places(tree, make_person, make_shelter):
    officer = make_person("officer_a", tree.village)
    make_shelter(tree.township, code="S1", name="码头镇第一中学体育馆室内避难场所", lon=115.911, lat=39.411,
                 capacity=200, occupancy=50)
    make_shelter(tree.township, code="S2", lon=115.93, lat=39.42, capacity=100)
    make_shelter(tree.township2, code="S3", lon=116.0, lat=39.5, capacity=500, status="standby")
    make_shelter(tree.township2, code="S4", lon=116.05, lat=39.52, capacity=500)
    make_shelter(tree.township, code="S5", lon=115.91, lat=39.41, capacity=10, occupancy=10, status="full")
    make_shelter(tree.other_county, code="S6", lon=115.91, lat=39.41)  # another county: never offered
    reply = sms_query(officer, None, None)
    assert reply.startswith("距王庄村最近有空位的避难场所:1.S1 ")
    assert "空位150" in reply and "S2" in reply and "S3" in reply
    assert "S4" not in reply and "S5" not in reply and "S6" not in reply
    assert segment_count(reply) <= 2 and len(reply) <= 134
    reply = sms_query(officer, 120, None)
    assert "可容纳120人" in reply and "S2" not in reply and "S1" in reply and "S4" in reply
    assert "没有空位≥1000" in sms_query(officer, 1000, None)


def test_query_without_coordinates_or_shelters(tree, make_person, make_shelter):
    officer = make_person("officer_a", tree.village)
    assert "没有有空位的开放或待命避难场所" in sms_query(officer, None, None)
    make_shelter(tree.township, code="S1", lon=115.90, lat=39.40)
    tree.village.lon = tree.village.lat = None  # searched from the township seat instead
    db.session.commit()
    assert sms_query(officer, None, None).startswith("距码头镇最近有空位的避难场所:1.S1 ")
    for division in (tree.township, tree.county, tree.city, tree.province):
        division.lon = division.lat = None
    db.session.commit()
    assert "王庄村未登记坐标" in sms_query(officer, None, None)


def test_manager_updates_occupancy_audited_with_history(tree, make_person, make_shelter):
    manager = make_person("officer_a", tree.village, phone="+8613600000101")
    shelter = make_shelter(tree.township, code="S12", capacity=300, status="standby", manager_phone=manager.phone)
    done, reply = sms_update(manager, "s12", "occupancy", 230, None)
    db.session.commit()
    assert done and "入住230/容量300" in reply and "空位70" in reply and "开放" in reply
    db.session.refresh(shelter)
    assert (shelter.occupancy, shelter.status) == (230, "open")
    record = db.session.scalar(select(OccupancyRecord))
    assert (record.occupancy_before, record.occupancy_after, record.channel, record.person_id) == (0, 230, "sms",
                                                                                                   manager.id)
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "shelter.update"))
    assert entry.entity_id == "S12" and entry.after["occupancy"] == 230 and entry.actor_id == manager.id


def test_non_manager_is_refused_politely(tree, make_person, make_shelter):
    shelter = make_shelter(tree.township, code="S12", capacity=300, manager_phone="+8613600000101")
    officer = make_person("officer_a", tree.village)  # an officer in that very township
    other_township = make_person("township", tree.township2)
    for person in (officer, other_township):
        done, reply = sms_update(person, "S12", "occupancy", 10, None)
        assert not done and "无权更新" in reply
        done, reply = sms_update(person, "S12", "closed", None, None)
        assert not done
    db.session.commit()
    db.session.refresh(shelter)
    assert shelter.occupancy == 0 and shelter.status == "open"
    assert db.session.scalar(select(OccupancyRecord)) is None


def test_responder_above_may_update(tree, make_person, make_shelter):
    make_shelter(tree.village, code="S12", capacity=300, manager_phone="+8613600000101")
    for role, division in (("township", tree.township), ("county", tree.county)):
        done, reply = sms_update(make_person(role, division), "S12", "closed", None, None)
        assert done and "关闭" in reply


def test_unknown_code_implausible_and_full(tree, make_person, make_shelter):
    manager = make_person("officer_a", tree.village)
    shelter = make_shelter(tree.township, code="S12", capacity=100, manager_phone=manager.phone)
    done, reply = sms_update(manager, "S99", "occupancy", 10, None)
    assert not done and "未找到避难场所S99" in reply
    done, reply = sms_update(manager, "S12", "occupancy", 151, None)
    assert not done and "1.5倍" in reply and "未更新" in reply
    done, reply = sms_update(manager, "S12", "occupancy", None, None)
    assert not done and "入住230" in reply
    done, reply = sms_update(manager, "S12", "occupancy", 120, None)
    assert done and "已满" in reply and "空位0" in reply
    db.session.commit()
    assert search.nearest(shelter.lon, shelter.lat) == []  # full: out of search results
    done, reply = sms_update(manager, "S12", "open", None, None)
    assert done and "仍满员" in reply
    done, reply = sms_update(manager, "S12", "occupancy", 80, None)  # room again → open, searchable
    db.session.commit()
    assert done and "开放" in reply
    assert [h.shelter.code for h in search.nearest(shelter.lon, shelter.lat)] == ["S12"]
    done, reply = sms_update(manager, "S12", "full", None, None)
    db.session.commit()
    assert done and search.nearest(shelter.lon, shelter.lat) == []


def test_stale_after_six_hours(tree, make_shelter, make_person, api_token, client):
    make_shelter(tree.township, code="OLD", occupancy_updated_at=utcnow() - timedelta(hours=7))
    make_shelter(tree.township, code="NEW", occupancy_updated_at=utcnow() - timedelta(hours=5))
    make_shelter(tree.township, code="IDLE", status="standby", occupancy_updated_at=utcnow() - timedelta(days=2))
    data = client.get("/api/v1/shelters", headers=api_token(make_person("county", tree.county))).get_json()
    assert {f["properties"]["code"]: f["properties"]["stale"] for f in data["features"]} == {
        "IDLE": False, "NEW": False, "OLD": True}


def test_drill_updates_never_touch_real_occupancy(tree, make_person, make_shelter, client, api_token):
    manager = make_person("officer_a", tree.village)
    shelter = make_shelter(tree.township, code="S12", capacity=100, occupancy=10, manager_phone=manager.phone)
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    done, reply = sms_update(manager, "S12", "occupancy", 100, exercise.id)
    db.session.commit()
    assert done and "已满" in reply and len("【演练】" + reply) <= 134
    db.session.refresh(shelter)
    assert (shelter.occupancy, shelter.status) == (10, "open")  # real data untouched
    assert search.nearest(shelter.lon, shelter.lat, exercise_id=exercise.id) == []
    assert [h.shelter.code for h in search.nearest(shelter.lon, shelter.lat)] == ["S12"]
    assert "没有" in sms_query(manager, None, exercise.id)
    assert [r.exercise_id for r in service.history(shelter, None)] == []
    assert [r.occupancy_after for r in service.history(shelter, exercise.id)] == [100]
    h = api_token(make_person("county", tree.county))
    real = client.get("/api/v1/shelters", headers=h).get_json()["features"][0]["properties"]
    drill = client.get(f"/api/v1/shelters?exercise={exercise.id}", headers=h).get_json()["features"][0]["properties"]
    assert (real["occupancy"], real["status"]) == (10, "open")
    assert (drill["occupancy"], drill["status"]) == (100, "full")
    assert db.session.scalar(select(Shelter.occupancy)) == 10
