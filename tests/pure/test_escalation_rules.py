"""The escalation policy table (SPEC §5), pure: no database, no Redis."""

from __future__ import annotations

import pytest

from dispatch.rules import Plan, Policy, Situation, decide, merge_levels, next_level


def rules(kind="initial", now=None, before=None, is_new=None, policy=None):
    s = Situation(kind=kind, now=now or {}, before=before, is_new=before is None if is_new is None else is_new)
    return [p.rule for p in decide(s, policy)]


def test_new_incident_without_casualties_is_e1_only():
    assert rules(now={"relocated": 120}) == ["E1"]


def test_new_incident_with_one_missing_opens_e1_and_e2():
    assert rules(now={"deaths": 0, "missing": 1, "relocated": 120}) == ["E1", "E2"]


def test_follow_up_without_change_opens_nothing():
    assert rules("update", now={"deaths": 1}, before={"deaths": 1}) == []


def test_follow_up_with_more_casualties_opens_e2():
    assert rules("update", now={"deaths": 1, "missing": 2}, before={"deaths": 1, "missing": 0}) == ["E2"]


def test_follow_up_with_fewer_casualties_opens_nothing():
    assert rules("update", now={"deaths": 0}, before={"deaths": 2}) == []


@pytest.mark.parametrize("now", [{"deaths": 6, "missing": 4}, {"relocated": 10_000}, {"houses_collapsed": 1_000}])
def test_skip_level_thresholds(now):
    assert "E3" in rules(now=now)


@pytest.mark.parametrize("now", [{"deaths": 5, "missing": 4}, {"relocated": 9_999}, {"houses_collapsed": 999}])
def test_just_below_skip_level(now):
    assert "E3" not in rules(now=now)


def test_e3_fires_when_crossing_not_on_every_later_report():
    assert rules("update", now={"deaths": 12}, before={"deaths": 3}) == ["E2", "E3"]
    assert rules("update", now={"deaths": 13}, before={"deaths": 12}) == ["E2"]


def test_nil_report_opens_nothing():
    assert rules("nil", now={}) == []


def test_thresholds_and_deadline_come_from_config():
    policy = Policy.from_config({"E3_RELOCATED": "500", "ESCALATION_ACK_MINUTES": "0.05"})
    plans = decide(Situation("initial", {"relocated": 600}, None, True), policy)
    assert [p.rule for p in plans] == ["E1", "E3"]
    assert all(p.deadline_minutes == 0.05 for p in plans)


def test_levels_notified_at_once_and_merged():
    plans = decide(Situation("initial", {"deaths": 10}, None, True))
    assert [(p.rule, p.levels) for p in plans] == [
        ("E1", ("township",)), ("E2", ("township", "county")), ("E3", ("county", "city", "province"))]
    # Each level gets one escalation: the most serious rule about this report.
    assert merge_levels(plans) == [("township", "E2", 30.0), ("county", "E3", 30.0), ("city", "E3", 30.0),
                                   ("province", "E3", 30.0)]
    assert merge_levels([Plan("E1", ("township",), 30.0)]) == [("township", "E1", 30.0)]


def test_e4_ladder():
    assert [next_level(x) for x in ("township", "county", "city", "province")] == ["county", "city", "province", None]
