"""`flask demo load` builds a county a newcomer can use; the migrations match the models."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from core.extensions import db
from core.geo import point_in_geometry
from core.models import Boundary, Division, Person
from tests.conftest import csrf_token

REAL_TOWNSHIPS = {"双塔街道", "桃园街道", "清凉寺街道", "松林店镇", "码头镇", "东城坊镇", "高官庄镇",
                  "百尺竿镇", "东仙坡镇", "义和庄镇", "刁窝镇", "豆庄镇", "林家屯镇", "孙家庄乡"}


def counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count()).select_from(Division)),
            db.session.scalar(select(func.count()).select_from(Person)))


def test_demo_load(cli, client):
    first = cli("demo", "load")
    assert first.exit_code == 0, first.output
    assert "demo county 涿州市 loaded: 14 townships" in first.output
    loaded = counts()

    again = cli("demo", "load")
    assert again.exit_code == 0, again.output
    assert "already loaded" in again.output
    assert counts() == loaded

    county = db.session.get(Division, "130681000000")
    assert county.name == "涿州市" and county.parent.name == "保定市"
    townships = db.session.scalars(select(Division).where(Division.parent_code == county.code)).all()
    assert {t.name for t in townships} == REAL_TOWNSHIPS
    outline = db.session.get(Boundary, county.code).geometry
    villages = db.session.scalars(select(Division).where(Division.county_code == county.code,
                                                         Division.level == "village")).all()
    assert len(villages) >= 14
    officers_a = set(db.session.scalars(select(Person.division_code).where(Person.role == "officer_a")))
    for village in villages:
        assert village.code in officers_a, village.name
        assert village.township_code in {t.code for t in townships}
        assert point_in_geometry(village.lon, village.lat, outline), village.name
    assert db.session.scalar(select(func.count()).select_from(Person).where(Person.role == "officer_b")) > 0
    for t in townships:
        assert db.session.scalar(select(Person).where(Person.role == "township", Person.division_code == t.code))

    # The printed county login works.
    password = re.search(r"logins \(password (\S+)\)", first.output).group(1)
    phone = re.search(r"county office 涿州市\s+(\+\d+)", first.output).group(1)
    response = client.post("/login", data={"phone": phone, "password": password,
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/board"
    # The officer phone printed for the SMS hint is a real demo officer.
    officer_phone = re.search(r"officer phones for SMS: (\+\d+)", first.output).group(1)
    officer = db.session.scalar(select(Person).where(Person.phone == officer_phone))
    assert officer.role == "officer_a" and officer.division.level == "village"


def test_migrations_match_the_models():
    """Every model change needs its migration: the migrated test database equals the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                               "compare_server_default": False})
        differences = compare_metadata(context, db.metadata)
    assert differences == [], "\n".join(map(str, differences))


def test_migrations_have_one_head_so_plain_db_upgrade_works(app):
    """Parts develop migrations in parallel branches; a release merges them (`flask db merge heads`),
    or `flask db upgrade` (SPEC §8.1) refuses to run with "multiple heads"."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())
    assert len(script.get_heads()) == 1, script.get_heads()


def test_dropping_the_audit_deferral_audits_reports_still_waiting(file_app):
    """reporter_003 removes reports.audit_pending; a report still waiting for its creation entry
    gets one from the migration, so upgrading loses no audit trail."""
    from flask_migrate import upgrade
    from sqlalchemy import inspect, text

    from core.audit import chain_all, verify

    with file_app.app_context():
        upgrade(revision="intake_001")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO divisions (code, name, level, parent_code, virtual) "
                              "VALUES ('130681102001', '王庄村', 'village', NULL, false)"))
            for n, pending in ((1, True), (2, False)):
                conn.execute(text(
                    "INSERT INTO reports (id, kind, hazard, village_code, status, flags, channel, received_at, "
                    "audit_pending) VALUES (:id, 'initial', 'flood', '130681102001', 'received', '[]', 'sms', "
                    "'2026-07-30 01:00:00', :p)"), {"id": n, "p": pending})
        upgrade(revision="heads")
        assert "audit_pending" not in {c["name"] for c in inspect(db.engine).get_columns("reports")}
        entries = db.session.execute(text("SELECT action, entity_id FROM audit_log")).all()
        assert entries == [("report.create", "R1")]  # R2 had its entry already
        chain_all()
        assert verify() == []


def test_the_latest_migrations_upgrade_a_sqlite_database_with_data(file_app):
    """make run's SQLite file holds events that incidents reference: a migration that rebuilt the
    events table (SQLite's way to add a foreign key) failed half-way on it, with foreign keys on."""
    from flask_migrate import upgrade
    from sqlalchemy import text


    with file_app.app_context():
        upgrade(revision="reporter_004")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO divisions (code, name, level, parent_code, virtual) "
                              "VALUES ('130681000000', '涿州市', 'county', NULL, false)"))
            conn.execute(text("INSERT INTO events (id, county_code, hazard, name, status, started_at, "
                              "last_activity_at, daily_report) VALUES (1, '130681000000', 'flood', '洪涝', 'open', "
                              "'2026-07-30 01:00:00', '2026-07-30 01:00:00', false)"))
            conn.execute(text("INSERT INTO incidents (village_code, hazard, status, event_id, report_count, flags, "
                              "opened_at, last_report_at) VALUES ('130681000000', 'flood', 'open', 1, 1, '[]', "
                              "'2026-07-30 01:00:00', '2026-07-30 01:00:00')"))
        upgrade(revision="heads")
        assert db.session.execute(text("SELECT count(*) FROM events WHERE county_reported_at IS NULL")).scalar() == 1
