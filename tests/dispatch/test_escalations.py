"""Opening escalations (E1–E3), on-duty rules, drills, acknowledgement, E4 and E6 — in-process,
real database; the sending itself is covered with real workers in test_sending.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.exercises import Exercise
from core.extensions import db
from core.models import utcnow
from dispatch import flows, overdue
from dispatch.models import Escalation
from messaging.models import OutboundSms


def sms_to(person):
    return [m.body for m in db.session.scalars(select(OutboundSms).where(
        OutboundSms.to_phone == person.phone).order_by(OutboundSms.id))]


def test_new_incident_notifies_township_with_spec_text(tree, staff, report_in):
    """SPEC §5's text, with only the figures the officer gave (no deaths reported: no 死亡0)."""
    report, incident, escalations = report_in(tree.village, staff.officer_a, relocated=120)
    [esc] = escalations
    assert (esc.rule, esc.level, esc.division_code, esc.status) == ("E1", "township", tree.township.code, "open")
    assert [p.id for p in esc.recipients] == [staff.township.id]
    assert esc.deadline_at - esc.created_at == timedelta(minutes=30)
    assert sms_to(staff.township) == [
        f'【灾情】王庄村(码头镇) 洪涝 转移120 R{report.id}。回复"收到 E{esc.id}"确认。']
    assert sms_to(staff.county) == []


def test_casualty_notifies_township_and_county_at_once(tree, staff, report_in):
    report, _i, escalations = report_in(tree.village, staff.officer_a, deaths=0, missing=1, relocated=120)
    assert [(e.rule, e.level) for e in escalations] == [("E2", "township"), ("E2", "county")]
    county_esc = escalations[1]
    assert sms_to(staff.county) == [
        f'【灾情】王庄村(码头镇) 洪涝 死亡0 失踪1 转移120 R{report.id}。回复"收到 E{county_esc.id}"确认。']
    assert len(sms_to(staff.township)) == 1  # one text about one report, not one per rule


def test_increase_in_follow_up_escalates_again_and_same_figures_do_not(tree, staff, report_in):
    _r, incident, _e = report_in(tree.village, staff.officer_a, relocated=50)
    _r, _i, none = report_in(tree.village, staff.officer_a, kind="update", incident=incident, relocated=80)
    assert none == []
    _r, _i, more = report_in(tree.village, staff.officer_a, kind="update", incident=incident, deaths=2)
    assert [(e.rule, e.level) for e in more] == [("E2", "township"), ("E2", "county")]


def test_skip_level_reaches_county_city_and_province(tree, staff, report_in):
    _r, _i, escalations = report_in(tree.village, staff.officer_a, relocated=12000)
    assert [(e.rule, e.level) for e in escalations] == [("E1", "township"), ("E3", "county"), ("E3", "city"),
                                                        ("E3", "province")]
    for person in (staff.county, staff.city, staff.province):
        assert len(sms_to(person)) == 1
    assert "转移12000" in sms_to(staff.province)[0]


def test_off_duty_people_are_skipped(tree, staff, report_in, make_person):
    off = make_person("township", tree.township, name="休息中", on_duty=False)
    gone = make_person("township", tree.township, name="已离职", active=False)
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    assert [p.id for p in esc.recipients] == [staff.township.id]
    assert sms_to(off) == [] and sms_to(gone) == []


def test_level_with_nobody_on_duty_escalates_at_once(tree, staff, report_in):
    staff.township.on_duty = False
    db.session.commit()
    _r, _i, escalations = report_in(tree.village, staff.officer_a, relocated=3)
    skipped, county = escalations
    assert (skipped.level, skipped.status, skipped.recipients) == ("township", "escalated", [])
    assert "无人值班" in skipped.note
    assert (county.rule, county.level, county.status, county.parent_id) == ("E1", "county", "open", skipped.id)
    assert len(sms_to(staff.county)) == 1 and sms_to(staff.township) == []


def test_empty_level_does_not_double_a_level_already_notified(tree, staff, report_in):
    staff.township.on_duty = False
    db.session.commit()
    _r, _i, escalations = report_in(tree.village, staff.officer_a, deaths=1)
    assert [(e.level, e.status) for e in escalations] == [("township", "escalated"), ("county", "open")]
    assert len(sms_to(staff.county)) == 1


def test_exercise_stays_inside_its_county_and_is_marked(tree, staff, report_in):
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    _r, _i, escalations = report_in(tree.village, staff.officer_a, exercise_id=exercise.id, deaths=11)
    assert [(e.rule, e.level) for e in escalations] == [("E2", "township"), ("E3", "county")]
    assert all(e.exercise_id == exercise.id for e in escalations)
    assert sms_to(staff.city) == [] and sms_to(staff.province) == []
    [text] = sms_to(staff.county)
    assert text.startswith("【演练】【灾情】王庄村(码头镇)")
    rows = db.session.scalars(select(OutboundSms)).all()
    assert {m.exercise_id for m in rows} == {exercise.id}


def test_deadlines_run_on_a_simulated_exercise_clock(tree, staff, report_in):
    """A ×60 simulated drill plays the 30-minute acknowledgement rule in 30 wall seconds; real
    traffic and a live drill (no speed) keep 30 minutes."""
    simulated = Exercise(name="推演", division_code=tree.county.code, scenario="flood", mode="simulated",
                         settings={"speed": 60})
    live = Exercise(name="实战演练", division_code=tree.county.code, scenario="flood")
    db.session.add_all([simulated, live])
    db.session.commit()
    deadlines = {}
    for key, village, exercise_id in (("real", tree.village, None), ("live", tree.village2, live.id),
                                      ("simulated", tree.village, simulated.id)):
        _r, _i, [esc] = report_in(village, staff.officer_a, exercise_id=exercise_id, relocated=5)
        deadlines[key] = (esc.deadline_at - esc.created_at).total_seconds()
    assert deadlines == {"real": 1800.0, "live": 1800.0, "simulated": 30.0}


def test_long_names_keep_the_text_within_two_segments(tree, staff, report_in):
    tree.village.name = "很长的村名" * 20
    db.session.commit()
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, deaths=0, relocated=120, houses_collapsed=3)
    [text] = sms_to(staff.township)
    assert len(text) <= 134 and text.endswith(f'回复"收到 E{esc.id}"确认。')


# ---- acknowledgement ---------------------------------------------------------------------------

def test_ack_by_sms_with_and_without_id(tree, staff, report_in):
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=3)
    _r, _i, [e2] = report_in(tree.village2, staff.officer_a, relocated=4)
    assert flows.acknowledge_by_sms(staff.township, None, None) == f"已确认E{e2.id}（李庄村），谢谢。"
    assert flows.acknowledge_by_sms(staff.township, e1.id, None) == f"已确认E{e1.id}（王庄村），谢谢。"
    db.session.commit()
    assert e1.status == "acknowledged" and e1.acknowledged_by_id == staff.township.id and e1.ack_channel == "sms"
    again = flows.acknowledge_by_sms(staff.township, e1.id, None)
    assert again.startswith(f"E{e1.id}已由码头镇值班于") and "无需重复" in again
    assert flows.acknowledge_by_sms(staff.township, None, None).startswith("暂无待确认的通知")


def test_ack_unknown_id_and_wrong_context(tree, staff, report_in):
    assert flows.acknowledge_by_sms(staff.township, 99999, None).startswith("未找到通知E99999")
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    assert "不属于演练" in flows.acknowledge_by_sms(staff.township, esc.id, exercise.id)
    assert esc.status == "open"


def test_only_recipient_or_above_may_acknowledge(tree, staff, report_in, make_person):
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    neighbour = make_person("township", tree.township2, name="邻镇")
    other_county = make_person("county", tree.other_county, name="定州")
    for person in (neighbour, other_county, staff.officer_a):
        with pytest.raises(PermissionError):
            flows.acknowledge(person, esc, "api")
        assert "无法确认" in flows.acknowledge_by_sms(person, esc.id, None)
    assert esc.status == "open"
    flows.acknowledge(staff.county, esc, "board")  # above: allowed
    db.session.commit()
    assert (esc.status, esc.acknowledged_by_id, esc.ack_channel) == ("acknowledged", staff.county.id, "board")


# ---- E4 ---------------------------------------------------------------------------------------

def _expire(esc):
    esc.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def test_overdue_escalation_goes_one_level_up_once(tree, staff, report_in):
    report, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    _expire(esc)
    child = overdue.escalate_if_overdue(esc.id)
    assert (child.rule, child.level, child.parent_id, child.status) == ("E4", "county", esc.id, "open")
    assert overdue.escalate_if_overdue(esc.id) is None
    assert overdue.sweep_overdue() == 0
    assert db.session.get(Escalation, esc.id).status == "escalated"
    assert sms_to(staff.county) == [f'【灾情】王庄村(码头镇) 洪涝 转移3 R{report.id}，码头镇未按时确认'
                                    f'E{esc.id}。回复"收到 E{child.id}"确认。']


def test_acknowledged_before_the_deadline_job_runs_means_no_e4(tree, staff, report_in):
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    _expire(esc)  # deadline passed, the job has not run yet
    flows.acknowledge_by_sms(staff.township, esc.id, None)
    db.session.commit()
    assert overdue.escalate_if_overdue(esc.id) is None and overdue.sweep_overdue() == 0
    assert db.session.scalars(select(Escalation).where(Escalation.rule == "E4")).all() == []
    assert sms_to(staff.county) == []


def test_province_overdue_has_nobody_above(tree, staff, report_in):
    _r, _i, escalations = report_in(tree.village, staff.officer_a, relocated=20000)
    province = escalations[-1]
    _expire(province)
    assert overdue.escalate_if_overdue(province.id) is None
    assert db.session.get(Escalation, province.id).status == "overdue"
    # still acknowledgeable, and the province office can do it
    flows.acknowledge(staff.province, province, "api")
    db.session.commit()
    assert province.status == "acknowledged"


# ---- E6 ---------------------------------------------------------------------------------------

def test_returned_report_tells_the_author(tree, staff, report_in):
    report, _i, _e = report_in(tree.village, staff.officer_a, relocated=3)
    flows.on_report_returned(report, reason="转移人数与乡镇核实不符")
    db.session.commit()
    assert sms_to(staff.officer_a) == [
        f"【退回】您的报告R{report.id}已被退回：转移人数与乡镇核实不符。请核实后重新报送或发送更正。"]
    e6 = db.session.scalar(select(Escalation).where(Escalation.rule == "E6"))
    assert (e6.status, [p.id for p in e6.recipients]) == ("closed", [staff.officer_a.id])
    assert e6.note == "转移人数与乡镇核实不符"


@pytest.mark.parametrize("reason", ["原因" * 800, "<script>alert(1)</script>", "🙂🌊 水位上涨",
                                    "'; DROP TABLE reports; --", "", "   \n\t "])
def test_return_reason_bad_input_still_one_short_sms(tree, staff, report_in, reason):
    report, _i, _e = report_in(tree.village, staff.officer_a, relocated=3)
    flows.on_report_returned(report, reason=reason)
    db.session.commit()
    [text] = sms_to(staff.officer_a)
    assert len(text) <= 134 and text.startswith(f"【退回】您的报告R{report.id}已被退回：")
    assert text.endswith("。请核实后重新报送或发送更正。")
    if not reason.strip():
        assert "未说明原因" in text


def test_drill_deadline_at_the_edge_of_the_exercise_goes_no_higher(tree, staff, report_in):
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    _r, _i, [town, county] = report_in(tree.village, staff.officer_a, exercise_id=exercise.id, deaths=1)
    _expire(county)
    assert overdue.escalate_if_overdue(county.id) is None  # the city is outside the drill
    assert db.session.get(Escalation, county.id).status == "overdue"
    _expire(town)
    child = overdue.escalate_if_overdue(town.id)
    assert (child.level, child.exercise_id) == ("county", exercise.id)
    assert sms_to(staff.city) == []


def test_no_e4_after_the_drill_ended(tree, staff, report_in):
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    _r, _i, [town] = report_in(tree.village, staff.officer_a, exercise_id=exercise.id, relocated=3)
    exercise.status = "ended"
    _expire(town)
    assert overdue.escalate_if_overdue(town.id) is None
    assert db.session.get(Escalation, town.id).status == "overdue" and sms_to(staff.county) == []


def test_a_stranger_acknowledging_an_alert_learns_nothing_about_it(tree, staff, report_in, make_person):
    """A responder of another county texting `收到 E<n>` used to be told who had acknowledged it
    and when; now only that it is not theirs."""
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    flows.acknowledge_by_sms(staff.township, esc.id, None)
    stranger = make_person("county", tree.other_county)
    reply = flows.acknowledge_by_sms(stranger, esc.id, None)
    assert "无法确认" in reply and staff.township.name not in reply and "已由" not in reply


def test_when_one_acknowledges_the_others_told_learn_it(tree, staff, report_in, make_person):
    """Two responders on duty at the township: the one who did not answer gets one short SMS
    saying who did, so both do not act (the policy depth GoAlert and Iris have)."""
    colleague = make_person("township", tree.township, name="码头镇副值班")
    _r, _i, [esc] = report_in(tree.village, staff.officer_a, relocated=3)
    assert {p.id for p in esc.recipients} == {staff.township.id, colleague.id}
    flows.acknowledge(staff.township, esc, "sms")
    db.session.commit()
    assert sms_to(colleague)[-1] == f"【已确认】E{esc.id}（王庄村）已由{staff.township.name}确认，无需再回复。"
    assert len(sms_to(staff.township)) == 1  # the one who acknowledged is not told


def test_a_follow_up_updates_the_waiting_escalation_instead_of_opening_another(tree, staff, report_in):
    """One village showed three 确认收到 buttons to the county: each follow-up opened another
    escalation beside the one still waiting. Now the waiting one is updated (one 【灾情更新】 SMS
    with the new figures, the more serious rule), and only a level not yet told gets its own."""
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=50)
    report, _i, caused = report_in(tree.village, staff.officer_a, kind="update", incident=incident, deaths=2)
    assert [(e.id, e.rule, e.level) for e in caused][0] == (e1.id, "E2", "township")  # the same record
    assert [(e.rule, e.level) for e in caused[1:]] == [("E2", "county")]
    waiting = db.session.scalars(select(Escalation).where(Escalation.level == "township",
                                                          Escalation.incident_id == incident.id)).all()
    assert len(waiting) == 1 and waiting[0].report_id == report.id
    update = sms_to(staff.township)[-1]
    assert update.startswith("【灾情更新】") and "死亡2" in update and f"E{e1.id}" in update
    _r, _i, again = report_in(tree.village, staff.officer_a, kind="update", incident=incident, deaths=3)
    assert {e.id for e in again} == {e.id for e in caused}  # both levels still waiting: both updated
    assert len(sms_to(staff.county)) == 2 and sms_to(staff.county)[-1].startswith("【灾情更新】")


def test_once_acknowledged_a_new_reason_opens_a_new_escalation(tree, staff, report_in):
    _r, incident, [e1] = report_in(tree.village, staff.officer_a, relocated=50)
    flows.acknowledge(staff.township, e1, "sms")
    _r, _i, caused = report_in(tree.village, staff.officer_a, kind="update", incident=incident, deaths=2)
    assert e1.id not in {e.id for e in caused} and ("E2", "township") in [(e.rule, e.level) for e in caused]
