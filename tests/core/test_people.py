"""`flask people import` and phone normalisation (SPEC §2)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from werkzeug.security import check_password_hash

from core.extensions import db
from core.models import Person
from core.people import BadPhone, by_phone, normalise_phone

HEADER = "name,phone,role,division_code,on_duty,password\n"
SPELLINGS = ["13812345678", "+86 138 1234 5678", "0086 138 1234 5678", "+86-138-1234-5678",
             "+8613812345678", "(+86) 138-1234-5678"]


def people() -> list[tuple]:
    db.session.expire_all()
    return sorted(db.session.execute(select(Person.name, Person.phone, Person.role, Person.division_code,
                                            Person.on_duty, Person.password_hash)).all())


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_phone_spellings_normalise(spelling):
    assert normalise_phone(spelling) == "+8613812345678"


@pytest.mark.parametrize("bad", ["", "1381234567", "23812345678", "138123456789", "hello", "+1 555"])
def test_bad_phones_are_refused(bad):
    with pytest.raises(BadPhone):
        normalise_phone(bad)


@pytest.mark.parametrize("spelling", SPELLINGS[:4])
def test_import_normalises_each_spelling(spelling, cli, write, tree):
    result = cli("people", "import", write("p.csv", HEADER + f'王小明,"{spelling}",officer_a,{tree.village.code},1,\n'))
    assert result.exit_code == 0, result.output
    assert [p[1] for p in people()] == ["+8613812345678"]
    assert by_phone(spelling).name == "王小明"


def test_good_import_hashes_passwords_and_reimport_updates(cli, write, tree):
    csv = HEADER + (f"王小明,13812345678,officer_a,{tree.village.code},1,\n"
                    f"李四,13912345678,officer_b,{tree.village.code},0,\n"
                    f"码头镇值班,13700000001,township,{tree.township.code},yes,s3cret-Passw0rd\n"
                    f"县应急局,13700000002,county,{tree.county.code},,another-Passw0rd\n")
    result = cli("people", "import", write("p.csv", csv))
    assert result.exit_code == 0, result.output
    assert "people: 4 created, 0 updated" in result.output
    officer = by_phone("13812345678")
    assert (officer.role, officer.division_code, officer.on_duty, officer.password_hash) == (
        "officer_a", tree.village.code, True, None)
    assert by_phone("13912345678").on_duty is False
    township = by_phone("13700000001")
    assert township.password_hash.startswith("scrypt:")
    assert check_password_hash(township.password_hash, "s3cret-Passw0rd")
    # The clear password is nowhere in the table.
    rows = db.session.execute(text("SELECT * FROM people")).all()
    assert not any("s3cret-Passw0rd" in str(v) or "another-Passw0rd" in str(v) for row in rows for v in row)

    first_id = township.id
    csv2 = HEADER + f"码头镇值班(新),+86 137 0000 0001,township,{tree.township2.code},0,\n"
    result = cli("people", "import", write("p2.csv", csv2))
    assert result.exit_code == 0, result.output
    assert "people: 0 created, 1 updated" in result.output
    township = by_phone("13700000001")
    assert (township.id, township.name, township.division_code, township.on_duty) == (
        first_id, "码头镇值班(新)", tree.township2.code, False)
    assert check_password_hash(township.password_hash, "s3cret-Passw0rd")  # no password column value: kept
    assert db.session.scalar(select(func.count()).select_from(Person)) == 4


def test_minimal_columns(cli, write, tree):
    csv = f"name,phone,role,division_code\n张三,13812345678,OFFICER_A,{tree.village.code}\n"
    result = cli("people", "import", write("p.csv", csv))
    assert result.exit_code == 0, result.output
    person = by_phone("+8613812345678")
    assert person.role == "officer_a" and person.on_duty is True


GOOD = "王小明,13812345678,officer_a,{village},1,\n"
BAD = {
    "bad phone": ("李四,1381234,officer_a,{village},1,\n", "'1381234' is not a valid phone number"),
    "text phone": ("李四,电话,officer_a,{village},1,\n", "'电话' is not a phone number"),
    "unknown role": ("李四,13912345678,chief,{village},1,\n", "unknown role 'chief'"),
    "village role on a township": ("李四,13912345678,officer_b,{township},1,\n",
                                   "the role officer_b must sit on a village, not on a township"),
    "township role on a village": ("李四,13912345678,township,{village},1,pw\n",
                                   "the role township must sit on a township, not on a village"),
    "county role on a township": ("李四,13912345678,county,{township},1,pw\n",
                                  "the role county must sit on a county, not on a township"),
    "duplicate phone": ("王小明二,+86 138 1234 5678,officer_b,{village},1,\n",
                        "phone +8613812345678 appears twice (first on line 2)"),
    "unknown division": ("李四,13912345678,officer_a,130681999999,1,\n", "division '130681999999' is not imported"),
    "name too long": ("李" * 101 + ",13912345678,officer_a,{village},1,\n", "name is longer than 100 characters (101)"),
    "empty name": (",13912345678,officer_a,{village},1,\n", "name is empty"),
    "bad on_duty": ("李四,13912345678,officer_a,{village},maybe,\n", "on_duty 'maybe' is not 1/0/true/false"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_row_is_refused_with_line_and_nothing_imported(case, cli, write, tree, make_person):
    existing = make_person("county", tree.county, phone="+8613600000009", name="原有")
    before = people()
    row, reason = BAD[case]
    fill = {"village": tree.village.code, "township": tree.township.code}
    path = write("p.csv", HEADER + GOOD.format(**fill) + row.format(**fill))
    result = cli("people", "import", path)
    assert result.exit_code == 1, result.output
    assert f"{path}: line 3: {reason}" in result.output
    assert "nothing was imported" in result.output
    assert people() == before and by_phone("13812345678") is None
    assert db.session.get(Person, existing.id).name == "原有"


@pytest.mark.parametrize("text_, encoding, line, reason", [
    ("", "utf-8", 1, "the file is empty"),
    ("name,phone,role\n李四,13912345678,officer_a\n", "utf-8", 1, "missing column(s): division_code"),
    (HEADER + "李四,13912345678,officer_a,130681101001,1,\n", "gbk", 2, "the file is not UTF-8"),
])
def test_bad_file_is_refused(text_, encoding, line, reason, cli, write, tree):
    path = write("p.csv", text_, encoding=encoding)
    result = cli("people", "import", path)
    assert result.exit_code == 1
    assert f"{path}: line {line}: {reason}" in result.output
    assert people() == []


def test_one_active_person_per_phone(tree, make_person):
    make_person("officer_a", tree.village, phone="+8613812345678")
    make_person("officer_a", tree.village2, phone="+8613812345678", active=False)  # a former holder is fine
    with pytest.raises(Exception):  # noqa: B017  (IntegrityError, whatever the driver calls it)
        make_person("officer_a", tree.village3, phone="+8613812345678")
    db.session.rollback()
    assert by_phone("13812345678").division_code == tree.village.code


def test_import_names_backups_from_the_file_or_before_and_audits_them(cli, write, tree, make_person):
    """A county imports its duty roster with each responder's backup (who is told in their place
    while they are off duty): someone in the same file or already active; a backup who cannot see
    the person's division is refused with its line, and nothing is imported."""
    from core.models import AuditEntry

    deputy = make_person("county", tree.county, phone="+8613700000009", name="副局长")
    header = "name,phone,role,division_code,on_duty,password,backup_phone\n"
    csv = header + (f"码头镇值班,13700000001,township,{tree.township.code},1,,13700000002\n"
                    f"码头镇副值班,13700000002,township,{tree.township.code},1,,\n"
                    f"县应急局,13700000003,county,{tree.county.code},1,,{deputy.phone}\n")
    result = cli("people", "import", write("p.csv", csv))
    assert result.exit_code == 0, result.output
    assert by_phone("13700000001").backup_id == by_phone("13700000002").id  # named before it existed
    assert by_phone("13700000003").backup_id == deputy.id
    assert db.session.scalar(select(func.count(AuditEntry.id)).where(AuditEntry.action == "person.backup")) == 2

    other_township = make_person("township", tree.township2, phone="+8613700000010", name="东城坊镇")
    bad = header + (f"码头镇值班,13700000001,township,{tree.township.code},1,,{other_township.phone}\n"
                    f"新来的,13700000004,township,{tree.township.code},1,,\n")
    result = cli("people", "import", write("bad.csv", bad))
    assert result.exit_code != 0 and "line 2" in result.output and "nothing was imported" in result.output
    assert by_phone("13700000004") is None  # all or nothing
    assert by_phone("13700000001").backup_id == by_phone("13700000002").id


def test_an_import_tells_the_planner_how_many_people_there_are(cli, write, tree):
    """PostgreSQL plans from its statistics. After a bulk import they must count the new people:
    in the province drill a people table the planner had never seen made every escalation's
    recipients a scan of all 54,456 people (46 ms each) instead of a primary-key lookup."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner statistics")
    rows = "".join(f"信息员{n},1390000{n:04d},officer_a,{tree.village.code}\n" for n in range(400))
    result = cli("people", "import", write("many.csv", "name,phone,role,division_code\n" + rows))
    assert result.exit_code == 0, result.output
    people = db.session.scalar(select(func.count(Person.id)))
    estimate = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'people'"))
    assert people >= 400 and estimate == people
