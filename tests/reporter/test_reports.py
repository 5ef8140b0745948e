"""Reports, incidents and events (SPEC §4): kinds, hazards, the 3-day event window, flags, corrections."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry
from reporter.models import Event, Incident
from tests.reporter.conftest import message, reports, twiml_text


def sms(person, body: str, at: datetime | None = None) -> str:
    """Handle one SMS as the webhook would, at a chosen time."""
    from reporter import intake, processing

    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": person.phone, "To": "+8610690000", "Body": body}
    reply = intake.receive_sms(form, received_at=at)
    processing.drain()
    return reply


def incidents() -> list[Incident]:
    db.session.rollback()
    return list(db.session.scalars(select(Incident).order_by(Incident.id)))


def events() -> list[Event]:
    db.session.rollback()
    return list(db.session.scalars(select(Event).order_by(Event.id)))


def test_kind_is_inferred_and_figures_are_cumulative(officer):
    first = sms(officer, "洪涝 死亡0 失踪1 转移120")
    assert first.startswith("已收到初报")
    second = sms(officer, "失踪0 死亡1 受伤2")
    assert second.startswith("已收到续报")  # hazard from the only open incident
    [incident] = incidents()
    assert incident.indicators == {"deaths": 1, "missing": 0, "injured": 2, "relocated": 120}
    assert incident.report_count == 2 and incident.latest_report_id == reports()[-1].id
    assert [r.kind for r in reports()] == ["initial", "update"]
    assert reports()[1].flags == ["decrease"]  # missing went down without a word why


def test_explicit_initial_on_an_open_incident_becomes_an_update(officer):
    sms(officer, "初报 洪涝 转移10")
    reply = sms(officer, "初报 洪涝 转移20")
    assert reply.startswith("已收到续报") and len(incidents()) == 1


def test_hazard_must_be_named_when_two_incidents_are_open(officer):
    sms(officer, "初报 洪涝 转移10")
    sms(officer, "初报 滑坡 受伤1")
    reply = sms(officer, "转移30")
    assert "请写明灾种" in reply and "洪涝" in reply
    assert len(reports()) == 2


def test_final_report_closes_the_incident(officer):
    sms(officer, "初报 洪涝 转移10")
    reply = sms(officer, "核报 洪涝 转移8 死亡0 情况稳定")
    [incident] = incidents()
    assert incident.status == "closed" and incident.closed_at is not None
    assert "核报" in reply
    again = sms(officer, "洪涝 转移3")
    assert again.startswith("已收到初报") and len(incidents()) == 2


def test_events_join_within_three_days_and_are_named(officer, officer2, tree, make_person):
    t0 = datetime(2026, 7, 30, 17, 0, tzinfo=UTC)  # 2026-07-31 01:00 in Asia/Shanghai
    sms(officer, "初报 洪涝 转移10", at=t0)
    sms(officer2, "初报 洪涝 转移4", at=t0 + timedelta(days=2, hours=23))
    [event] = events()
    assert event.name == "2026-07-31 涿州市 洪涝"
    assert {i.event_id for i in incidents()} == {event.id}
    # another county, same hazard: its own event
    other = make_person("officer_a", tree.other_village)
    sms(other, "初报 洪涝 转移1", at=t0)
    # more than 3 days after the event's last activity: a new event
    third = make_person("officer_a", tree.village3)
    sms(third, "初报 洪涝 转移2", at=t0 + timedelta(days=6))
    names = [e.name for e in events()]
    assert names == ["2026-07-31 涿州市 洪涝", "2026-07-31 定州市 洪涝", "2026-08-06 涿州市 洪涝"]


def test_late_initial_report_is_flagged(officer, officer2, make_person, tree):
    t0 = datetime(2026, 7, 30, 0, 0, tzinfo=UTC)
    sms(officer, "初报 洪涝 转移10", at=t0)
    sms(officer2, "初报 洪涝 转移4", at=t0 + timedelta(hours=1))
    assert reports()[1].flags == []
    late = make_person("officer_b", tree.village2)  # same township, same village's second officer
    sms(late, "续报 洪涝 转移5", at=t0 + timedelta(hours=3))  # an update: never late
    assert reports()[2].flags == []
    # A third village of the same township, 3 h after the township's first message.
    from core.models import Division

    v = Division(code="130681101003", parent_code=tree.township.code, name="张庄村", level="village",
                 province_code=tree.province.code, city_code=tree.city.code, county_code=tree.county.code,
                 township_code=tree.township.code)
    db.session.add(v)
    db.session.commit()
    person = make_person("officer_a", v)
    reply = sms(person, "初报 洪涝 转移5", at=t0 + timedelta(hours=3))
    assert reports()[-1].flags == ["late"] and "请核实" in reply
    assert "late" in incidents()[-1].flags


def test_implausible_figures_are_stored_and_flagged(officer, officer2):
    reply = sms(officer, "初报 洪涝 转移200000")
    assert reports()[0].flags == ["implausible"] and "请核实" in reply
    sms(officer2, "初报 洪涝 转移10")
    sms(officer2, "续报 洪涝 转移500")  # grew 50×
    assert reports()[-1].flags == ["implausible"]


def test_decrease_with_narrative_is_not_flagged(officer):
    sms(officer, "初报 洪涝 死亡2")
    sms(officer, "续报 洪涝 死亡1 一人经核实为失踪后找到")
    assert reports()[-1].flags == []


def test_correction_by_author_recomputes_incident_and_is_audited(officer):
    sms(officer, "初报 洪涝 死亡0 转移120")
    report = reports()[0]
    reply = sms(officer, f"更正 R{report.id} 死亡1")
    assert reply.startswith(f"已更正R{report.id}") and "死亡1" in reply
    corrected = reports()[0]
    assert corrected.status == "corrected" and corrected.deaths == 1 and corrected.relocated == 120
    assert incidents()[0].deaths == 1
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "report.correct"))
    assert entry.before["indicators"]["deaths"] == 0 and entry.after["indicators"]["deaths"] == 1
    assert entry.actor_id == officer.id


def test_correction_of_an_older_report_leaves_the_incident(officer):
    sms(officer, "初报 洪涝 死亡0 转移120")
    sms(officer, "续报 洪涝 转移150")
    first = reports()[0]
    sms(officer, f"更正 R{first.id} 转移100")
    assert reports()[0].relocated == 100 and incidents()[0].relocated == 150


def test_responder_above_may_correct(officer, township_staff, officer2):
    sms(officer, "初报 洪涝 受伤1")
    report = reports()[0]
    assert sms(township_staff, f"更正 R{report.id} 受伤2").startswith("已更正")
    assert "不能更正" in sms(officer2, f"更正 R{report.id} 受伤9")


def test_every_report_is_audited(officer, township_staff):
    """Each report's creation entry is written with the report (nothing to wait for), in the
    sender's name; a later correction follows it; the chain the sweep builds verifies."""
    from core.audit import chain_all, verify

    sms(officer, "初报 洪涝 转移10")
    sms(officer, "零报告")
    sms(officer, "续报 洪涝 转移12")
    ours = AuditEntry.action.like("report.%")  # dispatch audits the escalations it opens too
    entries = list(db.session.scalars(select(AuditEntry).where(ours).order_by(AuditEntry.id)))
    assert [e.action for e in entries] == ["report.create", "report.nil", "report.create"]
    assert [e.entity_id for e in entries] == [r.public_id for r in reports()]
    assert entries[0].actor_id == officer.id and entries[0].after["indicators"] == {"relocated": 10}
    assert entries[0].after["channel"] == "sms" and entries[0].after["message_id"] is not None
    sms(township_staff, f"更正 R{reports()[-1].id} 转移16")
    actions = [e.action for e in db.session.scalars(select(AuditEntry).where(ours).order_by(AuditEntry.id))]
    assert actions == ["report.create", "report.nil", "report.create", "report.correct"]
    assert chain_all() >= 4
    assert verify() == []


def test_message_fields_for_a_correction(send_sms, officer):
    twiml_text(send_sms(officer.phone, "初报 洪涝 死亡0", sid="SM-r"))
    report = reports()[0]
    twiml_text(send_sms(officer.phone, f"更正 R{report.id} 死亡1", sid="SM-fix"))
    stored = message("SM-fix")
    assert stored.outcome == "correction" and stored.report_id == report.id


def test_the_worker_chains_audit_entries(officer, start_worker):
    """A real `flask worker` runs the audit sweep: the report's entry takes its place in the chain."""
    from tests.conftest import wait_for

    sms(officer, "初报 洪涝 转移10")
    start_worker()

    entry = wait_for(lambda: db.session.scalar(select(AuditEntry).where(
        AuditEntry.action == "report.create", AuditEntry.seq.is_not(None))),
        timeout=30, message="the report.create entry in the chain")
    assert entry.entity_id == f"R{reports()[0].id}" and entry.hash


def test_a_confirmed_large_figure_does_not_flag_later_reports(officer):
    sms(officer, "初报 洪涝 转移150000")
    sms(officer, "续报 洪涝 受伤2")
    assert [r.flags for r in reports()] == [["implausible"], []]
    sms(officer, "续报 洪涝 死亡600 失踪500")
    assert reports()[-1].flags == ["implausible"]


def test_a_late_replayed_message_does_not_move_activity_back(officer):
    t0 = datetime(2026, 7, 30, 0, 0, tzinfo=UTC)
    sms(officer, "初报 洪涝 转移10", at=t0 + timedelta(hours=2))
    sms(officer, "续报 洪涝 转移12", at=t0 + timedelta(hours=1))  # spooled while the database was down
    [incident] = incidents()
    assert incident.last_report_at == t0 + timedelta(hours=2)
    assert incident.relocated == 10 and incident.latest_report_id == reports()[0].id  # newest figures stay
    assert incident.report_count == 2
    assert incident.event.last_activity_at == t0 + timedelta(hours=2)


def test_the_village_lock_does_not_wait_for_rows_that_merely_reference_the_village(officer, tree):
    """Another transaction holding a fresh row that points at the village (its foreign-key check
    holds FOR KEY SHARE until commit: a report, an escalation, an E5 reminder) must not hold up
    the next report of that village (the province drill saw webhooks wait 29 s that way)."""
    from sqlalchemy import insert, text

    from core.models import Person
    from reporter.service import lock_division

    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one write lock")
    with db.engine.connect() as other:
        other.execute(insert(Person).values(name="别的事务", phone="+8613900009999", role="officer_b",
                                            division_code=tree.village.code, active=True, on_duty=True))
        db.session.execute(text("SET LOCAL lock_timeout = '2s'"))
        lock_division(tree.village.code)  # raised LockNotAvailable after 2 s with FOR UPDATE
        db.session.rollback()
        other.rollback()


def test_a_nil_report_while_an_incident_is_open_is_kept_flagged_and_questioned(send_sms, officer):
    """"Nothing happened" from a village whose flood incident is still open: which is true? The nil
    report is stored (never dropped), flagged, and the officer is asked for a final or a follow-up."""
    twiml_text(send_sms(officer.phone, "初报 洪涝 转移3"))
    reply = twiml_text(send_sms(officer.phone, "零报告"))
    nil = reports()[-1]
    assert nil.kind == "nil" and nil.flags == ["open_incident"]
    assert "仍有未结束的灾情" in reply and "核报" in reply and nil.public_id in reply


def test_a_nil_report_with_nothing_open_is_simply_thanked(send_sms, officer):
    reply = twiml_text(send_sms(officer.phone, "零报告"))
    assert reports()[-1].flags == [] and reply.endswith("谢谢。")
