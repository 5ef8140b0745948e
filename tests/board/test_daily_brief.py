"""The daily brief (灾情简报): the page a county office sends up every morning, as HTML and PDF."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta

import pytest

from core.models import utcnow


def _yesterday_then_today(rows, tree):
    event = rows.event(tree.county)
    incident, _ = rows.incident(tree.village, event, figures={"relocated": 30, "missing": 1},
                                received_at=utcnow() - timedelta(days=1, hours=1))
    rows.report(incident, figures={"relocated": 50, "missing": 1})  # today: 20 more relocated
    rows.incident(tree.village2, event, figures={"relocated": 5})   # today: a new incident
    return event


def test_the_brief_gives_totals_changes_townships_and_silence(client, tree, make_person, login, rows):
    _yesterday_then_today(rows, tree)
    login(make_person("county", tree.county))
    assert "/board/brief" in client.get("/board").get_data(as_text=True)
    html = client.get("/board/brief").get_data(as_text=True)
    assert "涿州市 灾情简报" in html and "码头镇" in html
    # relocated: 30 at the start of the day (the one incident then), 55 now (50 + the new 5)
    relocated_row = html[html.index("紧急转移安置人口（人）"):][:200]
    assert "55" in relocated_row and "+25" in relocated_row
    missing_row = html[html.index("因灾失踪人口（人）"):][:200]
    assert "–" in missing_row  # unchanged
    assert "今日新增灾情 1" in html and "待确认通知" in html and "今日未报村" in html


@pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("pdftoppm") is None,
                    reason="chromium and pdftoppm print and read the PDF")
def test_the_brief_prints_to_a_one_page_pdf(client, tree, make_person, login, rows, tmp_path):
    _yesterday_then_today(rows, tree)
    login(make_person("county", tree.county))
    response = client.get("/board/brief.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    pdf = tmp_path / "brief.pdf"
    pdf.write_bytes(response.data)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(tmp_path / "page")], check=True)
    assert len(list(tmp_path.glob("page*.png"))) == 1  # one A4 page
