"""Exports: township roll-up as XLSX (statistics form) and CSV (BOM), incident GeoJSON, CAP 1.2
per event validated against the OASIS schema; all scoped and audited."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from lxml import etree
from openpyxl import load_workbook
from sqlalchemy import select

from core.exercises import Exercise
from core.extensions import db
from core.models import AuditEntry

CAP_NS = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).with_name("CAP-v1.2.xsd"))))


def _data(tree, rows):
    ev = rows.event(tree.county, daily=True)
    rows.incident(tree.village, ev, figures={"deaths": 2, "relocated": 120, "loss_10k_yuan": 35.5})
    rows.incident(tree.village3, ev, figures={"injured": 4, "houses_collapsed": 3})
    rows.incident(tree.other_village, rows.event(tree.other_county), figures={"deaths": 99})
    return ev


def _exports():
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "export")))


def test_xlsx_is_a_statistics_form(client, tree, make_person, login, rows):
    _data(tree, rows)
    login(make_person("county", tree.county))
    response = client.get("/board/export/townships.xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["Content-Disposition"]
    ws = load_workbook(io.BytesIO(response.data)).active
    assert ws["A1"].value == "涿州市自然灾害情况统计表（乡镇汇总）"
    assert "计量单位" in ws["E2"].value and ws["A2"].value == "填报单位：涿州市"
    header = [c.value for c in ws[3]]
    assert header[:3] == ["乡镇（街道）", "受灾人口（人）", "因灾死亡人口（人）"]
    assert "直接经济损失（万元）" in header and "农作物受灾面积（公顷）" in header
    col = {name: i for i, name in enumerate(header)}
    body = {r[0]: r for r in ws.iter_rows(min_row=4, values_only=True)}
    assert set(body) == {"码头镇", "东城坊镇", "合计"}
    assert body["码头镇"][col["因灾死亡人口（人）"]] == 2
    assert body["码头镇"][col["未报村名单"]] == "李庄村"
    assert body["东城坊镇"][col["倒塌房屋（间）"]] == 3
    assert body["合计"][col["直接经济损失（万元）"]] == 35.5
    assert body["合计"][col["紧急转移安置人口（人）"]] == 120
    assert [e.entity for e in _exports()] == ["rollup_xlsx"]


def test_csv_has_bom_and_same_rows(client, tree, make_person, login, rows):
    _data(tree, rows)
    login(make_person("county", tree.county))
    response = client.get("/board/export/townships.csv")
    assert response.data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert table[0][0] == "乡镇（街道）" and table[-1][0] == "合计"
    assert [r[0] for r in table[1:-1]] == ["码头镇", "东城坊镇"]
    assert [e.entity for e in _exports()] == ["rollup_csv"]


def test_township_export_contains_only_its_township(client, tree, make_person, login, rows):
    _data(tree, rows)
    login(make_person("township", tree.township2))
    table = list(csv.reader(io.StringIO(client.get("/board/export/townships.csv").data.decode("utf-8-sig"))))
    assert [r[0] for r in table[1:]] == ["东城坊镇", "合计"]
    features = client.get("/board/export/incidents.geojson").get_json()["features"]
    assert [f["properties"]["village_name"] for f in features] == ["东河村"]


def test_geojson_of_incidents(client, tree, make_person, login, rows):
    _data(tree, rows)
    login(make_person("county", tree.county))
    response = client.get("/board/export/incidents.geojson")
    assert response.mimetype == "application/geo+json"
    data = response.get_json()
    assert data["type"] == "FeatureCollection"
    f = {x["properties"]["village_name"]: x for x in data["features"]}
    assert set(f) == {"王庄村", "东河村"}
    assert f["王庄村"]["geometry"] == {"type": "Point", "coordinates": [115.91, 39.41]}
    assert f["王庄村"]["properties"]["indicators"] == {"deaths": 2, "relocated": 120, "loss_10k_yuan": 35.5}
    assert [e.entity for e in _exports()] == ["incidents_geojson"]


def test_cap_valid_and_derived_from_figures(client, tree, make_person, login, rows):
    ev = _data(tree, rows)
    login(make_person("county", tree.county))
    response = client.get(f"/board/events/{ev.id}/cap.xml")
    assert response.status_code == 200 and response.mimetype == "application/cap+xml"
    doc = etree.fromstring(response.data)
    SCHEMA.assertValid(doc)
    text = lambda path: doc.findtext(path, namespaces=CAP_NS)  # noqa: E731
    assert text("cap:status") == "Actual" and text("cap:msgType") in ("Alert", "Update")
    assert text("cap:info/cap:category") == "Met"
    assert text("cap:info/cap:severity") == "Severe"  # deaths 2: casualties
    assert text("cap:info/cap:urgency") == "Immediate"
    assert text("cap:info/cap:certainty") == "Likely"  # nothing accepted yet
    areas = doc.findall("cap:info/cap:area", CAP_NS)
    assert [a.findtext("cap:areaDesc", namespaces=CAP_NS) for a in areas] == ["王庄村", "东河村"]
    assert areas[0].findtext("cap:circle", namespaces=CAP_NS) == "39.41000,115.91000 2.0"
    assert areas[0].findtext("cap:geocode/cap:value", namespaces=CAP_NS) == tree.village.code
    assert [e.entity for e in _exports()] == ["event_cap"]


def test_cap_of_a_drill_is_status_exercise(client, tree, make_person, login, rows):
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    ev = rows.event(tree.county, hazard="earthquake", exercise_id=exercise.id)
    rows.incident(tree.village, ev, hazard="earthquake", figures={"deaths": 12}, exercise_id=exercise.id)
    login(make_person("county", tree.county))
    assert client.get(f"/board/events/{ev.id}/cap.xml").status_code == 404  # not real data
    doc = etree.fromstring(client.get(f"/board/events/{ev.id}/cap.xml?exercise={exercise.id}").data)
    SCHEMA.assertValid(doc)
    assert doc.findtext("cap:status", namespaces=CAP_NS) == "Exercise"
    assert doc.findtext("cap:info/cap:category", namespaces=CAP_NS) == "Geo"
    assert doc.findtext("cap:info/cap:severity", namespaces=CAP_NS) == "Extreme"


def test_cap_scoped(client, tree, make_person, login, rows):
    ev = _data(tree, rows)
    login(make_person("township", tree.township))
    doc = etree.fromstring(client.get(f"/board/events/{ev.id}/cap.xml").data)
    assert [a.findtext("cap:areaDesc", namespaces=CAP_NS) for a in doc.findall("cap:info/cap:area", CAP_NS)] \
        == ["王庄村"]
    other = rows.event(tree.other_county)
    assert client.get(f"/board/events/{other.id}/cap.xml").status_code == 404


def test_a_name_that_looks_like_a_formula_stays_text(client, tree, make_person, login, rows):
    tree.township.name = "=HYPERLINK(\"http://x\")"
    db.session.commit()
    rows.incident(tree.village, rows.event(tree.county), figures={"deaths": 1})
    login(make_person("county", tree.county))
    ws = load_workbook(io.BytesIO(client.get("/board/export/townships.xlsx").data)).active
    cell = next(c for c in ws["A"] if c.value and "HYPERLINK" in str(c.value))
    assert cell.data_type == "s" and cell.value == tree.township.name
    table = list(csv.reader(io.StringIO(client.get("/board/export/townships.csv").data.decode("utf-8-sig"))))
    assert "'=HYPERLINK(\"http://x\")" in [r[0] for r in table]


def test_csv_says_its_charset_once(client, tree, make_person, login):
    login(make_person("county", tree.county))
    response = client.get("/board/export/townships.csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
