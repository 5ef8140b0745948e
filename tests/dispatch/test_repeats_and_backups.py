"""Escalation policy depth: a notice nobody acknowledged is repeated before it climbs
(ESCALATION_REPEATS), and an off-duty responder is replaced by their backup."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import people
from core.extensions import db
from core.models import AuditEntry, utcnow
from dispatch import flows, overdue, repeats
from dispatch.models import Escalation
from dispatch.rules import Policy, repeat_due
from tests.conftest import wait_for
from tests.dispatch.test_escalations import sms_to


def _due(esc: Escalation, *, deadline_too: bool = False) -> None:
    row = db.session.get(Escalation, esc.id)
    row.repeat_at = utcnow() - timedelta(seconds=1)
    if deadline_too:
        row.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_repeats_are_spread_inside_the_window_so_the_climb_keeps_its_deadline():
    assert [repeat_due(30, 1, n) for n in range(2)] == [15, None]
    assert [repeat_due(30, 2, n) for n in range(3)] == [10, 20, None]
    assert repeat_due(30, 0, 0) is None
    assert Policy.from_config({"ESCALATION_REPEATS": "2"}).repeats == 2
    assert Policy.from_config({"ESCALATION_REPEATS": "-1"}).repeats == 0


def test_unacknowledged_notice_is_repeated_once_then_climbs(tree, staff, report_in):
    report, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=30)
    assert esc.repeat_at - esc.created_at == timedelta(minutes=15)
    assert esc.deadline_at - esc.created_at == timedelta(minutes=30)  # the climb does not move
    assert repeats.repeat_if_due(esc.id) is False  # not due yet
    _due(esc)
    assert repeats.repeat_if_due(esc.id) is True
    assert repeats.repeat_if_due(esc.id) is False  # once only, whoever calls
    assert sms_to(staff.township) == [
        f'【灾情】王庄村(码头镇) 洪涝 转移30 R{report.id}。回复"收到 E{esc.id}"确认。',
        f'【灾情·再次提醒】王庄村(码头镇) 洪涝 转移30 R{report.id}。回复"收到 E{esc.id}"确认。']
    row = db.session.get(Escalation, esc.id)
    assert (row.repeats_sent, row.repeat_at, row.status) == (1, None, "open")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "escalation.repeat"))
    assert entry.entity_id == esc.public_id and entry.after["repeat"] == 1
    row.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    child = overdue.escalate_if_overdue(esc.id)
    assert (child.rule, child.level) == ("E4", "county") and len(sms_to(staff.county)) == 1


def test_configured_repeats(app, tree, staff, report_in, monkeypatch):
    monkeypatch.setitem(app.config, "ESCALATION_REPEATS", 2)
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=30)
    assert esc.repeat_at - esc.created_at == timedelta(minutes=10)
    _due(esc)
    assert repeats.repeat_if_due(esc.id)
    row = db.session.get(Escalation, esc.id)
    assert row.repeat_at - row.created_at == timedelta(minutes=20)
    monkeypatch.setitem(app.config, "ESCALATION_REPEATS", 0)
    _r, _i, [none] = report_in(tree.village2, staff.officer_a, relocated=3)
    assert none.repeat_at is None


def test_no_repeat_once_acknowledged_nor_after_the_deadline(tree, staff, report_in):
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=30)
    flows.acknowledge(staff.township, esc, "web")
    db.session.commit()
    _due(esc)
    assert repeats.sweep_repeats() == 0
    _r, _i, [late] = report_in(tree.village2, staff.officer_a, relocated=3)
    _due(late, deadline_too=True)  # the worker was down past the deadline: it climbs instead
    assert repeats.sweep_repeats() == 0 and overdue.sweep_overdue() == 1
    assert all("再次提醒" not in body for body in sms_to(staff.township))


def test_off_duty_responder_is_replaced_by_their_backup(tree, staff, report_in, make_person):
    deputy = make_person("admin", tree.township, name="码头镇副职")
    people.set_backup(staff.township, deputy)
    staff.township.on_duty = False
    db.session.commit()
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    assert (esc.level, esc.status, [p.id for p in esc.recipients]) == ("township", "open", [deputy.id])
    assert len(sms_to(deputy)) == 1 and sms_to(staff.township) == [] and sms_to(staff.county) == []
    assert flows.may_acknowledge(deputy, esc)


def test_off_duty_backup_does_not_stand_in(tree, staff, report_in, make_person):
    deputy = make_person("admin", tree.township, name="码头镇副职", on_duty=False)
    people.set_backup(staff.township, deputy)
    staff.township.on_duty = False
    db.session.commit()
    _r, _i, escalations = report_in(tree.village, staff.officer_a, relocated=3)
    assert [(e.level, e.status) for e in escalations] == [("township", "escalated"), ("county", "open")]
    assert sms_to(deputy) == []


def test_repeat_goes_to_the_backup_of_whoever_went_off_duty(tree, staff, report_in, make_person):
    deputy = make_person("admin", tree.township, name="码头镇副职")
    people.set_backup(staff.township, deputy)
    db.session.commit()
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    assert [p.id for p in esc.recipients] == [staff.township.id]
    staff.township.on_duty = False  # went off shift without acknowledging
    db.session.commit()
    _due(esc)
    assert repeats.repeat_if_due(esc.id)
    assert len(sms_to(staff.township)) == 1
    assert [b for b in sms_to(deputy)] and "再次提醒" in sms_to(deputy)[0]
    row = db.session.get(Escalation, esc.id)
    assert {p.id for p in row.recipients} == {staff.township.id, deputy.id}
    flows.acknowledge(deputy, row, "sms")
    db.session.commit()
    assert db.session.get(Escalation, esc.id).acknowledged_by_id == deputy.id


def test_backup_must_be_an_active_responder_who_can_see_the_person(tree, staff, make_person):
    with pytest.raises(ValueError):
        people.set_backup(staff.township, staff.township)
    with pytest.raises(ValueError):
        people.set_backup(staff.township, staff.officer_a)  # an officer is not a responder
    elsewhere = make_person("county", tree.other_county, name="别县")
    with pytest.raises(ValueError):
        people.set_backup(staff.township, elsewhere)
    people.set_backup(staff.township, staff.county)  # the county above may stand in
    assert staff.township.backup_id == staff.county.id


def test_cli_sets_duty_and_backup_with_audit(app, tree, staff, make_person):
    deputy = make_person("admin", tree.township, name="码头镇副职")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["people", "backup", staff.township.phone, deputy.phone])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["people", "duty", staff.township.phone, "off"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    person = db.session.get(type(staff.township), staff.township.id)
    assert (person.backup_id, person.on_duty) == (deputy.id, False)
    actions = set(db.session.scalars(select(AuditEntry.action).where(AuditEntry.entity == "person")))
    assert actions == {"person.backup", "person.duty"}
    bad = runner.invoke(args=["people", "backup", staff.township.phone, staff.officer_a.phone])
    assert bad.exit_code == 1
    cleared = runner.invoke(args=["people", "backup", staff.township.phone, "--clear"])
    assert cleared.exit_code == 0 and db.session.get(type(person), person.id).backup_id is None


def test_worker_repeats_then_climbs(app, tree, staff, report_in, fake_twilio, fast_worker, monkeypatch):
    """A real worker: the repeat when it is due, then the climb at the deadline."""
    monkeypatch.setitem(app.config, "ESCALATION_ACK_MINUTES", 0.1)  # repeat at 3 s, climb at 6 s
    fast_worker("repeater")
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    wait_for(lambda: len(fake_twilio.bodies_to(staff.township.phone)) == 2, timeout=30, message="repeated")
    assert "再次提醒" in fake_twilio.bodies_to(staff.township.phone)[1]
    assert fake_twilio.bodies_to(staff.county.phone) == []
    wait_for(lambda: len(fake_twilio.bodies_to(staff.county.phone)) == 1, timeout=30, message="climbed")
    assert db.session.get(Escalation, esc.id).repeats_sent == 1
