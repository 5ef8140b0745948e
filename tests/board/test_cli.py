"""`flask board sms`: the one-line command that posts a signed test SMS to a running server."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from reporter.models import Report


def test_signed_test_sms_command(app, live_server, tree, make_person):
    """`flask board sms` posts a webhook the server accepts (the demo's one-line command)."""
    officer = make_person("officer_a", tree.village)
    result = app.test_cli_runner().invoke(args=["board", "sms", officer.phone, "初报 洪涝 转移30",
                                                "--url", live_server])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("200") and "已收到初报" in result.output
    db.session.rollback()
    assert db.session.scalar(select(Report).where(Report.village_code == tree.village.code)).relocated == 30
