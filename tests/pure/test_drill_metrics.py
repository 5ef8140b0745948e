"""metrics.evaluate on plain values, checked against numpy."""

from __future__ import annotations

import numpy as np

from drills import metrics

VILLAGES = [{"code": f"V{i}", "name": f"村{i}", "township_code": "T1" if i < 4 else "T2",
             "township_name": "一镇" if i < 4 else "二镇"} for i in range(6)]


def test_figures_match_an_independent_computation():
    reports = [{"t": 600, "village_code": "V0", "kind": "initial", "flags": [], "status": "received"},
               {"t": 5000, "village_code": "V0", "kind": "update", "flags": ["implausible"], "status": "received"},
               {"t": 3500, "village_code": "V1", "kind": "nil", "flags": [], "status": "received"},
               {"t": 4000, "village_code": "V2", "kind": "initial", "flags": [], "status": "received"},
               {"t": 8000, "village_code": "V4", "kind": "initial", "flags": [], "status": "received"},
               {"t": 100, "village_code": "OUTSIDE", "kind": "initial", "flags": [], "status": "received"}]
    escalations = [{"id": 1, "rule": "E1", "level": "township", "t": 600, "t_ack": 900, "status": "acknowledged"},
                   {"id": 2, "rule": "E1", "level": "township", "t": 4000, "t_ack": 7000, "status": "acknowledged"},
                   {"id": 3, "rule": "E1", "level": "township", "t": 8000, "t_ack": None, "status": "escalated"},
                   {"id": 4, "rule": "E4", "level": "county", "t": 9800, "t_ack": 10000, "status": "acknowledged"}]
    messages = [{"t": 1, "outcome": "report", "body": "演练 初报 洪涝 转移3", "review_status": "none"},
                {"t": 2, "outcome": "unparsed", "body": "演练 洪捞 转移3", "review_status": "pending"}]
    sms = [{"status": "sent", "purpose": "escalation", "error_code": None, "notify_s": 0.2},
           {"status": "failed", "purpose": "escalation", "error_code": 21211, "notify_s": None},
           {"status": "delivered", "purpose": "escalation", "error_code": None, "notify_s": 0.6},
           {"status": "sent", "purpose": "escalation", "error_code": None, "notify_s": None, "climb_s": 1.5},
           {"status": "sent", "purpose": "reminder", "error_code": None, "notify_s": None, "climb_s": None}]
    shelters = [{"code": "S1", "name": "一中", "capacity": 200, "peak": 150}]
    r = metrics.evaluate(VILLAGES, reports, messages, escalations, sms, shelters, duration=4 * 3600)

    first = {"V0": 600, "V1": 3500, "V2": 4000, "V4": 8000}
    assert r["reported"] == 4 and r["within_1h"] == 2 and r["within_2h"] == 3
    assert r["share_1h"] == round(2 / 6, 4)
    assert r["time_to_report"]["village"]["median_min"] == round(np.percentile(list(first.values()), 50) / 60, 1)
    assert r["time_to_report"]["village"]["p90_min"] == round(np.percentile(list(first.values()), 90) / 60, 1)
    t1, t2 = r["townships"]
    assert (t1["name"], t1["villages"], t1["within_1h"], t1["within_2h"]) == ("一镇", 4, 2, 3)
    assert (t2["villages"], t2["reported"], t2["within_2h"]) == (2, 1, 0)
    assert r["time_to_ack"]["township"]["acknowledged"] == 2
    assert r["time_to_ack"]["township"]["within_deadline"] == 1
    assert r["time_to_ack"]["township"]["median_min"] == round(np.median([300, 3000]) / 60, 1)
    assert r["time_to_ack"]["county"]["median_min"] == round(200 / 60, 1)
    assert [(e["rule"], e["count"]) for e in r["escalations_by_rule"]] == [("E1", 3), ("E4", 1)]
    assert [v["name"] for v in r["silent"]] == ["村3", "村5"]
    assert r["review"] == {"count": 1, "examples": ["演练 洪捞 转移3"]}
    assert r["sms"]["failed"] == 1 and r["sms"]["failure_codes"] == {"21211": 1}
    assert r["sms"]["notify_p95_s"] == round(float(np.percentile([0.2, 0.6], 95)), 3)
    assert (r["sms"]["notified"], r["sms"]["climbed"], r["sms"]["climb_p95_s"]) == (2, 1, 1.5)
    assert r["shelters"][0]["use"] == 0.75
    assert r["flagged_reports"] == 1
    assert r["arrival_curve"][12] == (60.0, round(2 / 6, 4))
    met = {o["key"]: o["met"] for o in r["objectives"]}
    assert met == {"report_1h": False, "report_2h": False, "ack_30min": False, "no_silent": False, "sms_ok": False}
    assert any("E4" in p for p in r["problems"]) and r["recommendations"]


def test_empty_drill_has_no_figures_but_does_not_fail():
    r = metrics.evaluate([], [], [], [], [], [], duration=3600)
    assert r["villages"] == 0 and r["share_1h"] == 0.0 and r["time_to_report"]["village"]["median_min"] is None
    assert r["recommendations"]


def test_percentile_is_numpys_linear():
    values = [5.0, 1.0, 9.0, 3.0, 7.5, 2.25]
    for q in (0, 10, 50, 90, 95, 100):
        assert abs(metrics.percentile(values, q) - float(np.percentile(values, q))) < 1e-9
