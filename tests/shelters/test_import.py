"""`flask shelters import/export`: every bad file named in issue 6 is refused with its line or
feature number and reason, and nothing is written; good files are idempotent on code."""

from __future__ import annotations

import json

import geojson
import pytest
from sqlalchemy import func, select, text

from core.divisions import import_boundaries
from core.extensions import db
from core.geo import wgs84_to_gcj02
from core.importing import ImportProblems
from shelters.importer import export_collection, import_shelters
from shelters.models import OccupancyRecord, Shelter

HEADER = "code,name,level,class,type,division_code,lon,lat,effective_area_m2,capacity"
GOOD_ROW = "S1,码头镇中学,township,emergency,school,130681101000,115.905,39.405,4500,"


def count() -> int:
    return db.session.scalar(select(func.count(Shelter.id)))


def write(tmp_path, name: str, text: str | bytes):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def feature(code="S1", lon=115.905, lat=39.405, geometry=None, **props):
    properties = {"code": code, "name": "码头镇中学", "level": "township", "class": "emergency", "type": "school",
                  "division_code": "130681101000", "effective_area_m2": 4500}
    properties.update(props)
    return {"type": "Feature", "geometry": geometry or {"type": "Point", "coordinates": [lon, lat]},
            "properties": {k: v for k, v in properties.items() if v is not None}}


def collection(*features):
    return json.dumps({"type": "FeatureCollection", "features": list(features)}, ensure_ascii=False)


def problems_of(path) -> list[tuple[int, str]]:
    with pytest.raises(ImportProblems) as info:
        import_shelters(path)
    assert count() == 0, "nothing may be imported from a bad file"
    return info.value.problems


def test_csv_import_defaults_capacity_and_is_idempotent(tree, tmp_path):
    path = write(tmp_path, "s.csv", f"{HEADER},facilities,manager_phone\n{GOOD_ROW},water;power,13800000001\n"
                 "S2,东河村广场,village,short_term,square,130681102001,116.06,39.53,,800,,\n")
    assert import_shelters(path) == {"created": 2, "updated": 0}
    s1 = db.session.scalar(select(Shelter).where(Shelter.code == "S1"))
    assert s1.capacity == 3000  # 4500 m² ÷ 1.5 m² per person (GB 21734)
    assert s1.facilities == ["power", "water"] and s1.manager_phone == "+8613800000001"
    assert s1.status == "standby" and s1.occupancy == 0
    assert import_shelters(path) == {"created": 0, "updated": 2}
    assert count() == 2


def test_an_import_tells_the_planner_how_many_shelters_there_are(tree, tmp_path):
    """After a bulk load PostgreSQL's planner must count the new rows (as for people and
    divisions): a table it has never seen is planned as nearly empty until autovacuum comes."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner statistics")
    rows = "".join(f"S{n},避难点{n},village,short_term,square,130681102001,116.06,39.53,,800\n" for n in range(300))
    assert import_shelters(write(tmp_path, "many.csv", HEADER + "\n" + rows))["created"] == 300
    estimate = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'shelters'"))
    assert estimate == 300


def test_geojson_import_round_trips_through_export(tree, tmp_path):
    path = write(tmp_path, "s.geojson", collection(feature(occupancy=120, status="open", facilities=["water"]),
                                                   feature("s2", capacity=50, effective_area_m2=None)))
    assert import_shelters(path) == {"created": 2, "updated": 0}
    exported = export_collection()
    assert geojson.loads(json.dumps(exported)).is_valid
    props = {f["properties"]["code"]: f["properties"] for f in exported["features"]}
    assert props["S1"]["occupancy"] == 120 and props["S1"]["free"] == 2880 and props["S2"]["capacity"] == 50
    assert db.session.scalar(select(func.count(OccupancyRecord.id))) == 1  # the imported occupancy
    again = write(tmp_path, "again.geojson", json.dumps(exported, ensure_ascii=False))
    assert import_shelters(again) == {"created": 0, "updated": 2}
    assert export_collection()["features"][0]["geometry"] == exported["features"][0]["geometry"]


def test_gcj02_datum_is_converted_to_wgs84(tree, tmp_path):
    glon, glat = wgs84_to_gcj02(115.905, 39.405)
    import_shelters(write(tmp_path, "s.csv", f"{HEADER}\nS1,x,township,emergency,school,130681101000,"
                          f"{glon},{glat},,100\n"), datum="gcj02")
    s1 = db.session.scalar(select(Shelter))
    assert abs(s1.lon - 115.905) < 1e-5 and abs(s1.lat - 39.405) < 1e-5


@pytest.mark.parametrize("row, reason", [
    (",名称,township,emergency,school,130681101000,115.9,39.4,100,", "missing code"),
    ("S1,,township,emergency,school,130681101000,115.9,39.4,100,", "missing name"),
    ("S1,x,township,emergency,school,130681101000,,39.4,100,", "missing lon"),
    ("S1,x,hamlet,emergency,school,130681101000,115.9,39.4,100,", "level 'hamlet'"),
    ("S1,x,township,forever,school,130681101000,115.9,39.4,100,", "class 'forever'"),
    ("S1,x,township,emergency,castle,130681101000,115.9,39.4,100,", "type 'castle'"),
    ("S1,x,township,emergency,school,999999999999,115.9,39.4,100,", "division '999999999999' is not imported"),
    ("S1,x,township,emergency,school,130681101000,39.4,115.9,100,", "outside China"),
    ("S1,x,township,emergency,school,130681101000,2.35,48.85,100,", "outside China"),
    ("S1,x,township,emergency,school,130681101000,abc,39.4,100,", "lon 'abc' is not a number"),
    ("S1,x,township,emergency,school,130681101000,115.9,39.4,-30,", "negative"),
    ("S1,x,township,emergency,school,130681101000,115.9,39.4,,-5", "capacity -5 is negative"),
    ("S1,x,township,emergency,school,130681101000,115.9,39.4,,", "give capacity or effective_area_m2"),
    ("S1,x,township,emergency,school,130681101000,115.9,39.4,,12.5", "not a whole number"),
    ("S 1,x,township,emergency,school,130681101000,115.9,39.4,100,", "code 'S 1'"),
])
def test_bad_csv_rows(tree, tmp_path, row, reason):
    problems = problems_of(write(tmp_path, "bad.csv", f"{HEADER}\n{GOOD_ROW}\n{row}\n"))
    assert len(problems) == 1 and problems[0][0] == 3, problems
    assert reason in problems[0][1]


def test_every_bad_row_is_reported_at_once(tree, tmp_path):
    path = write(tmp_path, "bad.csv", f"{HEADER}\n{GOOD_ROW}\nS2,x,hamlet,emergency,school,130681101000,115.9,39.4,1,\n"
                 f"{GOOD_ROW}\nS3,x,township,emergency,school,130681101000,115.9,39.4,-1,\n")
    with pytest.raises(ImportProblems) as info:
        import_shelters(path)
    assert [line for line, _ in info.value.problems] == [3, 4, 5]
    assert "duplicate code S1 (first at line 2)" in info.value.problems[1][1]
    assert "line 4: duplicate code S1" in str(info.value) and "nothing was imported" in str(info.value)
    assert count() == 0


def test_capacity_below_occupancy(tree, tmp_path):
    problems = problems_of(write(tmp_path, "bad.csv", f"{HEADER},occupancy\n{GOOD_ROW}50,\n"
                                 "S2,x,township,emergency,school,130681101000,115.9,39.4,,50,80\n"))
    assert problems == [(3, "capacity 50 is below the occupancy 80")]
    # …also against the occupancy already recorded for an existing shelter
    import_shelters(write(tmp_path, "ok.csv", f"{HEADER},occupancy\n{GOOD_ROW}100,90\n"))
    with pytest.raises(ImportProblems, match="capacity 60 is below the occupancy 90"):
        import_shelters(write(tmp_path, "shrink.csv", f"{HEADER}\n{GOOD_ROW}60\n"))


def test_unknown_and_missing_columns(tree, tmp_path):
    problems = problems_of(write(tmp_path, "bad.csv", f"{HEADER},colour\n{GOOD_ROW},red\n"))
    assert problems == [(1, "unknown column(s): colour")]
    problems = problems_of(write(tmp_path, "bad2.csv", "code,name,level\nS1,x,township\n"))
    assert problems[0][0] == 1 and "missing column(s): class, type, division_code, lon, lat" in problems[0][1]


def test_bad_encoding_and_empty_files(tree, tmp_path):
    gbk = f"{HEADER}\n{GOOD_ROW}\n".encode("gbk")
    problems = problems_of(write(tmp_path, "gbk.csv", gbk))
    assert "not UTF-8" in problems[0][1] and "GBK" in problems[0][1]
    assert "empty" in problems_of(write(tmp_path, "empty.csv", b""))[0][1]
    assert "empty" in problems_of(write(tmp_path, "empty.geojson", b"  \n"))[0][1]
    assert "no rows" in problems_of(write(tmp_path, "header.csv", HEADER + "\n"))[0][1]


def test_outside_the_county_outline(tree, tmp_path):
    outline = {"type": "Polygon", "coordinates": [[[115.8, 39.3], [116.2, 39.3], [116.2, 39.6], [115.8, 39.6],
                                                   [115.8, 39.3]]]}
    (tmp_path / "130681.json").write_text(json.dumps(outline))
    import_boundaries([tmp_path / "130681.json"], datum="wgs84")
    problems = problems_of(write(tmp_path, "far.csv", f"{HEADER}\n{GOOD_ROW}\n"
                                 "S2,x,township,emergency,school,130681101000,114.5,38.0,100,\n"))
    assert problems[0][0] == 3 and "outside the outline of 涿州市" in problems[0][1]


@pytest.mark.parametrize("bad, reason", [
    (feature("S2", geometry={"type": "LineString", "coordinates": [[115.9, 39.4], [116, 39.5]]}),
     "geometry must be a Point, not LineString"),
    (feature("S2", geometry={"type": "Point", "coordinates": ["115.9", 39.4]}), "must be [lon, lat]"),
    (feature("S2", colour="red"), "unknown property: colour"),
    (feature("S2", name=None), "missing name"),
    (feature("S2", lon=139.69, lat=35.69), "outside China"),
    (feature("S2", capacity=10, occupancy=20), "capacity 10 is below the occupancy 20"),
    (feature("S2", effective_area_m2=-3), "negative"),
    (feature("S1"), "duplicate code S1 (first at feature 1)"),
    ({"type": "Feature", "geometry": None, "properties": {}}, "geometry must be a Point, not None"),
    ({"type": "Polygon", "coordinates": []}, "not a GeoJSON Feature"),
    (feature("S2", facilities=["water", "jacuzzi"]), "facility 'jacuzzi'"),
    (feature("S2", manager_phone="12345"), "manager_phone '12345' is not a phone number"),
])
def test_bad_geojson_features(tree, tmp_path, bad, reason):
    problems = problems_of(write(tmp_path, "bad.geojson", collection(feature(), bad)))
    assert len(problems) == 1 and problems[0][0] == 2, problems
    assert reason in problems[0][1]


def test_bad_geojson_documents(tree, tmp_path):
    assert "not valid JSON" in problems_of(write(tmp_path, "a.geojson", '{"type": "FeatureCollection",\n'))[0][1]
    assert "FeatureCollection" in problems_of(write(tmp_path, "b.geojson", '{"type": "Point"}'))[0][1]
    assert "no features" in problems_of(write(tmp_path, "c.geojson", collection()))[0][1]


def test_cli_import_and_export(app, tree, tmp_path):
    runner = app.test_cli_runner()
    good = write(tmp_path, "s.geojson", collection(feature(name="<script>alert(1)</script>")))
    result = runner.invoke(args=["shelters", "import", str(good)])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output
    bad = write(tmp_path, "bad.geojson", collection(feature("S9", colour="red")))
    result = runner.invoke(args=["shelters", "import", str(bad)])
    assert result.exit_code == 1
    assert "feature 1: unknown property: colour" in result.output and "nothing was imported" in result.output
    result = runner.invoke(args=["shelters", "export"])
    assert result.exit_code == 0
    data = geojson.loads(result.output)
    assert data.is_valid and data["features"][0]["properties"]["name"] == "<script>alert(1)</script>"
    result = runner.invoke(args=["shelters", "export", "--division", tree.other_county.code])
    assert json.loads(result.output)["features"] == []


def test_reimport_with_a_new_capacity_fills_or_frees_the_shelter(tree, tmp_path):
    import_shelters(write(tmp_path, "a.csv", f"{HEADER},occupancy,status\n{GOOD_ROW}100,80,open\n"))
    import_shelters(write(tmp_path, "b.csv", f"{HEADER}\n{GOOD_ROW}80\n"))
    s1 = db.session.scalar(select(Shelter))
    assert (s1.capacity, s1.occupancy, s1.status) == (80, 80, "full")
    import_shelters(write(tmp_path, "c.csv", f"{HEADER}\n{GOOD_ROW}200\n"))
    assert (s1.capacity, s1.status) == (200, "open")
    import_shelters(write(tmp_path, "d.csv", f"{HEADER},status\n{GOOD_ROW}200,full\n"))  # declared full
    assert s1.status == "full"
    history = [(r.status_before, r.status_after) for r in db.session.scalars(
        select(OccupancyRecord).order_by(OccupancyRecord.id))]
    assert history == [("standby", "open"), ("open", "full"), ("full", "open"), ("open", "full")]


def test_real_zhuozhou_outline(tree, tmp_path):
    """With the real 涿州市 outline (GCJ-02, ../shared/data when present): a shelter in the city
    centre imports, one in neighbouring 高碑店 (about 20 km south) is refused."""
    from pathlib import Path

    outline = Path(__file__).resolve().parents[3] / "shared" / "data" / "hebei-county-boundaries" / "130681.json"
    if not outline.exists():
        outline = Path("/work/shared/data/hebei-county-boundaries/130681.json")
    if not outline.exists():
        pytest.skip("reference data ../shared/data is not beside the project")
    import_boundaries([outline], datum="gcj02")
    path = write(tmp_path, "real.csv", f"{HEADER}\nS1,涿州市体育中心,county,long_term,stadium,130681101000,"
                 "115.974,39.485,,2000\nS2,高碑店某学校,county,emergency,school,130681101000,115.873,39.327,,500\n")
    problems = problems_of(path)
    assert [line for line, _reason in problems] == [3] and "outside the outline of 涿州市" in problems[0][1]
