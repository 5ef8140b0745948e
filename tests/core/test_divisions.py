"""`flask divisions import`: every bad file is refused with its line and reason, nothing is
half-imported; a good file is converted from GCJ-02 and can be re-imported."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.divisions import below, children, descendants_clause
from core.extensions import db
from core.geo import haversine_m, wgs84_to_gcj02
from core.models import Division
from tests.core.conftest import DIVISIONS_CSV

HEADER = "code,parent_code,name,level,urban_rural_code,virtual,lon,lat\n"
GOOD_ROW = "130681101003,130681101000,张庄村委会,village,220,0,115.92,39.40\n"


def snapshot() -> list[tuple]:
    db.session.expire_all()
    return sorted(db.session.execute(select(Division.code, Division.parent_code, Division.name,
                                            Division.level, Division.lon, Division.lat)).all())


@pytest.fixture
def imported(cli, write):
    result = cli("divisions", "import", write("base.csv", DIVISIONS_CSV))
    assert result.exit_code == 0, result.output
    return snapshot()


def test_good_import_converts_gcj02_and_links_ancestors(imported):
    assert len(imported) == 6
    village = db.session.get(Division, "130681101001")
    assert (village.province_code, village.city_code, village.county_code, village.township_code) == (
        "130000000000", "130600000000", "130681000000", "130681101000")
    assert village.lineage_codes() == ["130000000000", "130600000000", "130681000000",
                                       "130681101000", "130681101001"]
    # GCJ-02 is offset from WGS84 by a few hundred metres around Baoding; stored is WGS84.
    offset = haversine_m(115.911, 39.411, village.lon, village.lat)
    assert 300 < offset < 800, offset
    assert village.lon < 115.911 and village.lat < 39.411  # GCJ-02 shifts north-east here
    back = wgs84_to_gcj02(village.lon, village.lat)
    assert haversine_m(*back, 115.911, 39.411) < 1.0
    assert db.session.get(Division, "130681101002").lon is None  # no coordinates: none invented


def test_import_reports_counts(cli, write):
    result = cli("divisions", "import", write("base.csv", DIVISIONS_CSV))
    assert result.exit_code == 0, result.output
    assert "imported 6 divisions" in result.output and "village 2" in result.output


def test_wgs84_datum_is_stored_as_given(cli, write):
    result = cli("divisions", "import", write("base.csv", DIVISIONS_CSV), "--datum", "wgs84")
    assert result.exit_code == 0, result.output
    village = db.session.get(Division, "130681101001")
    assert (village.lon, village.lat) == (115.911, 39.411)


def test_reimport_is_idempotent_and_updates_names(cli, write, imported):
    result = cli("divisions", "import", write("again.csv", DIVISIONS_CSV))
    assert result.exit_code == 0, result.output
    assert snapshot() == imported
    renamed = DIVISIONS_CSV.replace("王庄村委会", "王庄社区居委会")
    result = cli("divisions", "import", write("renamed.csv", renamed))
    assert result.exit_code == 0, result.output
    assert db.session.get(Division, "130681101001").name == "王庄社区居委会"
    assert db.session.scalar(select(func.count()).select_from(Division)) == 6


def test_later_file_may_hang_below_imported_divisions(cli, write, imported):
    result = cli("divisions", "import", write("more.csv", HEADER + GOOD_ROW))
    assert result.exit_code == 0, result.output
    added = db.session.get(Division, "130681101003")
    assert added.county_code == "130681000000" and added.township_code == "130681101000"


def test_utf8_with_bom_is_accepted(cli, write):
    path = write("excel.csv", "\ufeff" + DIVISIONS_CSV)
    result = cli("divisions", "import", path)
    assert result.exit_code == 0, result.output
    assert db.session.get(Division, "130000000000").name == "河北省"


def test_descendant_queries(imported):
    county = db.session.get(Division, "130681000000")
    township = db.session.get(Division, "130681101000")
    assert [d.code for d in children(township)] == ["130681101001", "130681101002"]
    assert [d.code for d in below(county, "village")] == ["130681101001", "130681101002"]
    codes = set(db.session.scalars(select(Division.code).where(descendants_clause(Division.code, county))))
    assert codes == {"130681000000", "130681101000", "130681101001", "130681101002"}


BAD_FILES = {
    "unknown level": (HEADER + GOOD_ROW + "130681101004,130681101000,新村,hamlet,,0,,\n",
                      3, "unknown level 'hamlet'"),
    "code with a letter": (HEADER + GOOD_ROW + "13068110100X,130681101000,新村,village,,0,,\n",
                           3, "is not a 12-digit division code"),
    "code too short": (HEADER + GOOD_ROW + "13068110100,130681101000,新村,village,,0,,\n",
                       3, "'13068110100' is not a 12-digit division code"),
    "malformed parent": (HEADER + GOOD_ROW + "130681101004,1306811010,新村,village,,0,,\n",
                         3, "parent_code '1306811010' is not a 12-digit division code"),
    "parent missing": (HEADER + GOOD_ROW + "130681999001,130681999000,孤村,village,,0,,\n",
                       3, "parent 130681999000 of 130681999001 is neither in the file nor imported"),
    "duplicate code": (HEADER + GOOD_ROW + GOOD_ROW.replace("张庄村委会", "又一个张庄"),
                       3, "duplicate code 130681101003 (first on line 2)"),
    "coordinates in New York": (HEADER + GOOD_ROW + "130681101004,130681101000,新村,village,,0,-73.98,40.75\n",
                                3, "outside China"),
    "lat and lon swapped": (HEADER + GOOD_ROW + "130681101004,130681101000,新村,village,,0,39.4,115.9\n",
                            3, "outside China"),
    "coordinates not numbers": (HEADER + GOOD_ROW + "130681101004,130681101000,新村,village,,0,东经,北纬\n",
                                3, "are not numbers"),
    "village under a county": (HEADER + GOOD_ROW + "130681000004,130681000000,新村,village,,0,,\n",
                               3, "a village must sit under a township, not under the county 130681000000"),
    "province with a parent": (HEADER + GOOD_ROW + "140000000000,130000000000,山西省,province,,0,,\n",
                               3, "a province has no parent_code"),
    "no parent": (HEADER + GOOD_ROW + "130681101004,,新村,village,,0,,\n", 3, "a village needs a parent_code"),
    "empty name": (HEADER + GOOD_ROW + "130681101004,130681101000,,village,,0,,\n", 3, "name is empty"),
    "name too long": (HEADER + GOOD_ROW + "130681101004,130681101000," + "村" * 101 + ",village,,0,,\n",
                      3, "name is longer than 100 characters (101)"),
    "empty file": ("", 1, "the file is empty"),
    "blank lines only": ("\n\n  \n", 1, "the file is empty"),
    "header only": (HEADER, 2, "the file has a header but no rows"),
    "missing columns": ("code,name,level\n130681101004,新村,village\n", 1, "missing column(s): parent_code"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_file_is_refused_with_line_and_nothing_changes(case, cli, write, imported):
    text, line, reason = BAD_FILES[case]
    path = write("bad.csv", text)
    result = cli("divisions", "import", path)
    assert result.exit_code == 1, result.output
    assert f"{path}: line {line}: " in result.output
    assert reason in result.output
    assert "nothing was imported" in result.output
    assert snapshot() == imported  # the good row before the bad one was not written either


def test_gbk_file_is_refused_with_its_line(cli, write, imported):
    path = write("gbk.csv", HEADER + GOOD_ROW, encoding="gbk")
    result = cli("divisions", "import", path)
    assert result.exit_code == 1
    assert f"{path}: line 2: the file is not UTF-8 (it looks like GBK/GB18030: save it as UTF-8)" in result.output
    assert snapshot() == imported


def test_spreadsheet_and_nul_bytes_are_refused(cli, write, tmp_path, imported):
    import openpyxl

    book = openpyxl.Workbook()
    book.active.append(["code", "parent_code", "name", "level"])
    book.save(tmp_path / "divisions.csv")  # an Excel file with a .csv name
    result = cli("divisions", "import", tmp_path / "divisions.csv")
    assert result.exit_code == 1 and "line 1: this is a spreadsheet (Excel) file, not CSV" in result.output
    result = cli("divisions", "import", write("utf16.csv", HEADER + GOOD_ROW, encoding="utf-16-le"))
    assert result.exit_code == 1 and "line 1: the file contains NUL bytes" in result.output
    result = cli("divisions", "import", write("nul.csv", HEADER + GOOD_ROW.replace("张庄", "张\x00庄")))
    assert result.exit_code == 1 and "line 2: the file contains NUL bytes" in result.output
    assert snapshot() == imported


def test_every_problem_is_listed_at_once(cli, write):
    text = HEADER + ("130000000000,,河北省,province,,0,,\n"
                     "13000000000A,130000000000,x,city,,0,,\n"
                     "130100000000,130000000000,石家庄市,metropolis,,0,,\n")
    result = cli("divisions", "import", write("two.csv", text))
    assert result.exit_code == 1
    assert "line 3: " in result.output and "line 4: " in result.output
    assert snapshot() == []
