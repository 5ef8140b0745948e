"""The county's 初报 table of one event: the statistics form's layout, every incident of the event
(closed ones too), scoped to the viewer (a township gets its own part, another county nothing),
drill kept apart, audited."""

from __future__ import annotations

import io

from openpyxl import load_workbook
from sqlalchemy import select

from core.exercises import Exercise
from core.extensions import db
from core.models import AuditEntry


def _sheet(response):
    assert response.status_code == 200, response.status_code
    assert "attachment" in response.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.data)).active
    header = [c.value for c in ws[3]]
    body = {r[0]: dict(zip(header, r, strict=True)) for r in ws.iter_rows(min_row=4, values_only=True)}
    return ws, body


def _event(tree, rows):
    ev = rows.event(tree.county, name="2026-11-29 涿州市 洪涝")
    rows.incident(tree.village, ev, figures={"deaths": 2, "relocated": 120})
    rows.incident(tree.village2, ev, figures={"relocated": 30, "loss_10k_yuan": 10.5}, status="closed")
    rows.incident(tree.village3, ev, figures={"houses_collapsed": 3})
    rows.incident(tree.village3, None, figures={"deaths": 50})  # not part of the event
    return ev


def test_county_report_is_the_statistics_form_of_the_event(client, tree, make_person, login, rows):
    ev = _event(tree, rows)
    login(make_person("county", tree.county))
    assert "initial-report.xlsx" in client.get("/board").get_data(as_text=True)
    ws, body = _sheet(client.get(f"/board/events/{ev.id}/initial-report.xlsx"))
    assert ws["A1"].value == "2026-11-29 涿州市 洪涝 自然灾害情况统计表（初报）"
    assert ws["A2"].value == "填报单位：涿州市" and ws["D2"].value == "灾种：洪涝"
    assert set(body) == {"码头镇", "东城坊镇", "合计"}
    assert body["码头镇"]["因灾死亡人口（人）"] == 2 and body["码头镇"]["紧急转移安置人口（人）"] == 150
    assert body["码头镇"]["涉灾村数（个）"] == 2
    assert body["东城坊镇"]["因灾死亡人口（人）"] is None  # not reported: empty, never 0
    assert body["合计"]["因灾死亡人口（人）"] == 2 and body["合计"]["倒塌房屋（间）"] == 3
    assert body["合计"]["直接经济损失（万元）"] == 10.5 and body["合计"]["涉灾村数（个）"] == 3
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "export"))
    assert (entry.entity, entry.entity_id) == ("county_report_xlsx", str(ev.id))


def test_county_report_is_scoped(client, tree, make_person, login, rows):
    ev = _event(tree, rows)
    theirs = rows.event(tree.other_county)
    rows.incident(tree.other_village, theirs, figures={"deaths": 9})
    login(make_person("township", tree.township))
    _ws, body = _sheet(client.get(f"/board/events/{ev.id}/initial-report.xlsx"))
    assert set(body) == {"码头镇", "合计"}
    assert client.get(f"/board/events/{theirs.id}/initial-report.xlsx").status_code == 404
    login(make_person("county", tree.other_county))
    assert client.get(f"/board/events/{ev.id}/initial-report.xlsx").status_code == 404
    assert client.get("/board/events/999999/initial-report.xlsx").status_code == 404


def test_drill_event_only_inside_its_exercise(client, tree, make_person, login, rows):
    drill = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(drill)
    db.session.commit()
    ev = rows.event(tree.county, exercise_id=drill.id)
    rows.incident(tree.village, ev, figures={"deaths": 1}, exercise_id=drill.id)
    login(make_person("county", tree.county))
    assert client.get(f"/board/events/{ev.id}/initial-report.xlsx").status_code == 404
    ws, body = _sheet(client.get(f"/board/events/{ev.id}/initial-report.xlsx?exercise={drill.id}"))
    assert ws["A1"].value.startswith("【演练】") and body["合计"]["因灾死亡人口（人）"] == 1
