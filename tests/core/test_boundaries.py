"""`flask divisions boundaries`: county outlines, one GeoJSON geometry per file named by county code."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.geo import gcj02_to_wgs84, point_in_geometry
from core.models import Boundary
from tests.core.conftest import DIVISIONS_CSV

SQUARE = [[115.8, 39.4], [116.1, 39.4], [116.1, 39.6], [115.8, 39.6], [115.8, 39.4]]


@pytest.fixture(autouse=True)
def divisions(cli, write):
    assert cli("divisions", "import", write("base.csv", DIVISIONS_CSV)).exit_code == 0


def geojson(write, name: str, data) -> str:
    return str(write(name, json.dumps(data)))


def boundary_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Boundary))


def test_good_outline_is_converted_and_stored(cli, write):
    path = geojson(write, "130681.json", {"type": "Polygon", "coordinates": [SQUARE]})
    result = cli("divisions", "boundaries", path)
    assert result.exit_code == 0, result.output
    assert "imported 1 county outlines" in result.output
    stored = db.session.get(Boundary, "130681000000")
    assert stored.geometry["coordinates"][0][0] == list(gcj02_to_wgs84(115.8, 39.4))
    assert stored.min_lon < 115.8 and stored.max_lat < 39.6  # shifted south-west into WGS84
    assert point_in_geometry(115.95, 39.5, stored.geometry)
    # Re-import (here as a Feature, in WGS84) replaces the outline.
    feature = {"type": "Feature", "properties": {}, "geometry": {"type": "MultiPolygon", "coordinates": [[SQUARE]]}}
    result = cli("divisions", "boundaries", geojson(write, "130681.json", feature), "--datum", "wgs84")
    assert result.exit_code == 0, result.output
    stored = db.session.get(Boundary, "130681000000")
    assert stored.geometry["type"] == "MultiPolygon" and stored.min_lon == 115.8
    assert boundary_count() == 1


BAD = {
    "wrong name": ("zhuozhou.json", {"type": "Polygon", "coordinates": [SQUARE]},
                   "zhuozhou.json: the file name must be a 6-digit county code"),
    "a point": ("130681.json", {"type": "Point", "coordinates": [115.9, 39.5]},
                "130681.json: expected a Polygon or MultiPolygon geometry"),
    "a list": ("130681.json", [SQUARE], "130681.json: expected a Polygon or MultiPolygon geometry"),
    "no coordinates": ("130681.json", {"type": "Polygon", "coordinates": []},
                       "130681.json: the geometry has no coordinates"),
    "a ring of two points": ("130681.json", {"type": "Polygon", "coordinates": [SQUARE[:2]]},
                             "130681.json: a ring needs at least 4 positions"),
    "text positions": ("130681.json", {"type": "Polygon", "coordinates": [[["a", "b"]] * 4]},
                       '130681.json: position ["a", "b"] is not [lon, lat]'),
    "lat, lon swapped": ("130681.json", {"type": "Polygon", "coordinates": [[[p[1], p[0]] for p in SQUARE]]},
                         "130681.json: position 39.4,115.8 is outside China"),
    "unknown county": ("130699.json", {"type": "Polygon", "coordinates": [SQUARE]},
                       "130699.json: division 130699000000 is not imported"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_outline_is_refused_and_nothing_imported(case, cli, write):
    name, data, reason = BAD[case]
    good = geojson(write, "130600.json", {"type": "Polygon", "coordinates": [SQUARE]})
    bad = geojson(write, name, data)
    result = cli("divisions", "boundaries", good, bad)
    assert result.exit_code == 1, result.output
    assert f"boundaries: file 2: {reason}" in result.output
    assert "nothing was imported" in result.output
    assert boundary_count() == 0  # the good file before it was not imported either


def test_not_json(cli, write):
    path = write("130681.json", "{not json")
    result = cli("divisions", "boundaries", path)
    assert result.exit_code == 1 and "130681.json: not a UTF-8 JSON file" in result.output
    path = write("130681.json", json.dumps({"type": "Polygon", "coordinates": [SQUARE], "名": "涿州"},
                                            ensure_ascii=False), encoding="gbk")
    result = cli("divisions", "boundaries", path)
    assert result.exit_code == 1 and "130681.json: not a UTF-8 JSON file" in result.output
    assert boundary_count() == 0


def test_skip_unknown_passes_over_counties_not_served(cli, write):
    good = geojson(write, "130681.json", {"type": "Polygon", "coordinates": [SQUARE]})
    unknown = geojson(write, "130699.json", {"type": "Polygon", "coordinates": [SQUARE]})
    result = cli("divisions", "boundaries", unknown, good, "--skip-unknown")
    assert result.exit_code == 0, result.output
    assert "imported 1 county outlines" in result.output
    assert [b.division_code for b in db.session.scalars(select(Boundary))] == ["130681000000"]
