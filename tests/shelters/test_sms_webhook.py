"""End to end through the signed Twilio webhook once the reporter's SMS handling is merged
(skipped on a branch without the `/sms/inbound` route): the reply an officer or manager receives."""

from __future__ import annotations

import pytest

from core.extensions import db
from shelters import service


def test_shelter_commands_by_sms(app, send_sms, tree, make_person, make_shelter):
    if "/sms/inbound" not in {rule.rule for rule in app.url_map.iter_rules()}:
        pytest.skip("the reporter's /sms/inbound webhook is not merged into this branch yet")
    manager = make_person("officer_a", tree.village2)
    officer = make_person("officer_a", tree.village)
    stranger = make_person("officer_a", tree.village3)
    shelter = make_shelter(tree.township, code="S12", capacity=300, status="standby", manager_phone=manager.phone,
                           lon=115.912, lat=39.412)
    body = send_sms(manager.phone, "避难 S12 入住230").get_data(as_text=True)
    assert "已更新S12" in body and "空位70" in body
    body = send_sms(stranger.phone, "避难 S12 满").get_data(as_text=True)
    assert "无权更新" in body
    body = send_sms(officer.phone, "避难 60人").get_data(as_text=True)
    assert "S12" in body and "空位70" in body
    db.session.refresh(shelter)
    assert (shelter.occupancy, shelter.status) == (230, "open")
    assert [r.channel for r in service.history(shelter, None)] == ["sms"]
