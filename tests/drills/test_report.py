"""The evaluation report: every heading, figures from the stored rows, HTML page, PDF that opens."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.extensions import db
from dispatch.models import Escalation
from drills import evaluation, flows
from drills.evaluation import HEADINGS
from messaging.models import OutboundSms


@pytest.fixture
def finished_drill(tree, drill_rows):
    exercise = flows.start_exercise(tree.county, "flood", name="年度防汛演练")
    start = exercise.started_at
    drill_rows(tree.village, exercise.id, 20, start=start, escalate=True, ack_after=10, relocated=30)
    drill_rows(tree.village2, exercise.id, 95, start=start, escalate=True, ack_after=None, relocated=5)
    drill_rows(tree.village3, exercise.id, 5, start=start, outcome="unparsed", body="演练 洪捞 <b>转移</b>3")
    flows.end_exercise(exercise)
    return exercise


def test_html_report_has_every_heading_and_the_figures(app, tree, finished_drill, tmp_path):
    out = tmp_path / "r.html"
    result = app.test_cli_runner().invoke(args=["drill", "report", str(finished_drill.id), "--output", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    for heading in HEADINGS:
        assert heading in html
    assert html.index("摘要") < html.index("一、概述")  # one-page summary first
    assert "年度防汛演练" in html and "码头镇" in html
    # 王庄村 in 20 min, 李庄村 in 95 min, 东河村 only an unparseable message: 1/3 within 1 h, 2/3 within 2 h
    assert "33.3%" in html and "66.7%" in html
    assert re.search(r"未报告的村（1）</h3>\s*<p>东河村（东城坊镇）", html)
    assert "演练 洪捞 &lt;b&gt;转移&lt;/b&gt;3" in html  # review example, escaped
    assert html.count("data:image/png;base64,") == 3


def test_board_page_shows_the_report_in_scope_only(client, tree, finished_drill, make_person, login):
    login(make_person("county", tree.county))
    page = client.get(f"/drills/{finished_drill.id}/report")
    assert page.status_code == 200 and "改进建议" in page.get_data(as_text=True)
    assert client.get("/drills/999/report").status_code == 404


def test_report_page_refused_outside_scope(client, tree, finished_drill, make_person, login):
    login(make_person("county", tree.other_county))
    assert client.get(f"/drills/{finished_drill.id}/report").status_code == 404


@pytest.mark.skipif(not shutil.which("pdftoppm"), reason="pdftoppm (poppler-utils) not installed")
def test_pdf_report_opens(app, finished_drill, tmp_path):
    out = tmp_path / "r.pdf"
    result = app.test_cli_runner().invoke(args=["drill", "report", str(finished_drill.id), "--format", "pdf",
                                                "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(out), str(tmp_path / "page")],
                   check=True, timeout=60)
    pages = list(tmp_path.glob("page*.png"))
    assert pages and pages[0].stat().st_size > 5000


def test_drill_pages_in_english(app, client, tree, finished_drill, make_person, login):
    """`?lang=en`: the exercises page and the evaluation report speak English; place names, the
    exercise's name, the SMS people sent and the officers' SMS syntax stay as they are."""
    from tests.shelters.test_english import chinese_left

    login(make_person("county", tree.county, name="涿州应急局"))
    data = {"年度防汛演练", "涿州应急局", "涿州市", "码头镇", "东城坊镇", "王庄村", "李庄村", "东河村", "演练 洪捞",
            "转移", "演练 初报 洪涝 转移30", "初报", "洪涝", "帮助", "【演练】", "河北省", "保定市"}
    with app.app_context():  # Flask-Babel caches the locale on `g`: one context per request
        index = client.get("/drills?lang=en").get_data(as_text=True)
    with app.app_context():
        report = client.get(f"/drills/{finished_drill.id}/report").get_data(as_text=True)
    assert "Emergency exercises" in index and "Start an exercise" in index and "Flood" in index
    assert "Ended" in index and "Evaluation report" in index
    assert '<html lang="en">' in report and "Emergency exercise evaluation report (summary)" in report
    assert "5. Recommendations" in report and "Villages that did not report (1)" in report
    assert "Villages reporting within 1 hour ≥ 90%" in report and "Not met" in report
    assert "33.3%" in report and "66.7%" in report
    assert chinese_left(index, data) == set() and chinese_left(report, data) == set()
    with app.app_context():
        chinese = client.get(f"/drills/{finished_drill.id}/report?lang=zh").get_data(as_text=True)
    assert "应急演练评估报告（摘要）" in chinese and "五、改进建议" in chinese


def test_chart_labels_follow_the_page_language(app):
    from flask_babel import refresh

    from drills import charts

    if charts.cjk_font() is None:
        pytest.skip("no CJK font installed: the charts are English everywhere")
    for lang, label in (("en", "township"), ("zh", "乡镇")):
        with app.test_request_context(f"/drills?lang={lang}"):
            refresh()  # the locale is cached per app context, which the test shares
            assert charts._label("乡镇", "township") == label
    assert charts._label("乡镇", "township") == "乡镇"  # CLI: no request


def test_time_to_notify_counts_each_reports_first_alert_and_e4_from_its_deadline(app, tree, drill_rows):
    """A repeat (sent half a window later by design) is not a slow notice, nor is an E4 (sent at
    the deadline): the notice is measured from the report, the E4 from the deadline it climbed from."""
    exercise = flows.start_exercise(tree.county, "flood", name="年度防汛演练")
    report = drill_rows(tree.village, exercise.id, 5, start=exercise.started_at, escalate=True, relocated=30)
    e1 = db.session.scalar(select(Escalation).where(Escalation.report_id == report.id))
    first = db.session.scalar(select(OutboundSms).where(OutboundSms.escalation_id == e1.id))
    e4 = Escalation(rule="E4", level="county", division_code=tree.county.code, village_code=tree.village.code,
                    report_id=report.id, incident_id=report.incident_id, parent_id=e1.id, exercise_id=exercise.id,
                    created_at=e1.deadline_at + timedelta(seconds=1), status="open")
    db.session.add(e4)
    db.session.flush()
    later = dict(purpose="escalation", report_id=report.id, status="sent", exercise_id=exercise.id)
    db.session.add_all([
        OutboundSms(to_phone=first.to_phone, body="【演练】【灾情·再次提醒】…", escalation_id=e1.id,
                    created_at=report.received_at + timedelta(minutes=15),
                    sent_at=report.received_at + timedelta(minutes=15, seconds=1), **later),
        OutboundSms(to_phone="+8613900000001", body="【演练】【灾情】…未按时确认…", escalation_id=e4.id,
                    created_at=e4.created_at, sent_at=e1.deadline_at + timedelta(seconds=2), **later)])
    db.session.commit()
    sms = evaluation.load_inputs(exercise)["sms"]
    assert sorted(s["notify_s"] for s in sms if s["notify_s"] is not None) == [0.5]
    assert [s["climb_s"] for s in sms if s["climb_s"] is not None] == [2.0]
