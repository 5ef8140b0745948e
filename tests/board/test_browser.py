"""The board in a real browser (headless Chromium via Playwright) against a real server.

One scenario, kept short: a county officer logs in, an SMS report arrives through the signed
webhook and appears without a reload, the officer acknowledges its escalation, returns the
report with a reason, and downloads the XLSX roll-up.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from core.extensions import db
from dispatch.models import Escalation
from reporter.models import Report
from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"{CHROMIUM} is not installed (apt-get install "
                                                                     "chromium); browser tests need it")]
XSS = '"><img src=x onerror="window.__xss=1">'


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1366, "height": 768}, accept_downloads=True,
                                      base_url=live_server)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.js_errors = errors
        page.set_default_timeout(15_000)
        yield page
        context.close()
        browser.close()


def test_live_board_ack_return_and_xlsx(page, tree, make_person, send_sms, tmp_path):
    county = make_person("county", tree.county, name="县应急办值班员")
    make_person("township", tree.township, name="码头镇值班员")
    officer = make_person("officer_a", tree.village, name="王庄信息员")
    db.session.commit()

    page.goto("/login")
    page.fill("input[name=phone]", county.phone)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/board")
    assert page.locator("h1").first.inner_text().startswith("灾情看板")
    page.evaluate("window.__marker = 'same page'")  # gone if the page reloads

    response = send_sms(officer.phone, f"初报 洪涝 死亡1 转移120 {XSS}")
    assert response.status_code == 200, response.get_data(as_text=True)
    report = db.session.scalar(select(Report).order_by(Report.id.desc()))
    assert report is not None, "the webhook stored no report"

    # Appears live: the change counter and the row, without a reload.
    page.locator("#live-items li", has_text=f"R{report.id}").wait_for()
    page.locator("#incidents tr[data-incident]", has_text="王庄村").wait_for()
    assert page.evaluate("window.__marker") == "same page"
    assert "新报告 1" in page.inner_text("#live-text")
    row = page.locator("#incidents tr[data-incident]", has_text="王庄村")
    assert "<img" in report.narrative and report.narrative in row.inner_text()  # shown as text
    assert page.evaluate("window.__xss") is None

    # Map popup: built with textContent.
    page.locator("#map[data-markers='1']").wait_for(state="attached")
    page.evaluate("""() => { const m = document.getElementById('map').boardMap;
                     const layer = m.clusters.getLayers()[0];
                     if (m.map.hasLayer(layer)) { layer.openPopup(); }
                     else { m.clusters.zoomToShowLayer(layer, () => layer.openPopup()); } }""")
    popup = page.locator(".leaflet-popup-content .popup-narrative")
    popup.wait_for()
    assert popup.inner_text() == report.narrative
    assert page.locator(".leaflet-popup-content img").count() == 0
    assert page.evaluate("window.__xss") is None

    # Acknowledge the escalation the report opened.
    # (the list shows the newest escalation first: the county's, for a death)
    esc = db.session.scalar(select(Escalation).where(Escalation.report_id == report.id)
                            .order_by(Escalation.id.desc()).limit(1))
    assert esc is not None, "dispatch opened no escalation for the new incident"
    row.locator("button.ack").first.click()
    page.wait_for_url("**/board")
    assert f"已确认 E{esc.id}" in page.inner_text("main")
    db.session.expire_all()
    assert db.session.get(Escalation, esc.id).status == "acknowledged"

    # Return the report with a reason.
    row = page.locator("#incidents tr[data-incident]", has_text="王庄村")
    row.locator("td.actions summary").click()
    row.locator("input[name=reason]").fill("死亡人数请与派出所核实")
    row.locator("button", has_text="退回").click()
    page.wait_for_url("**/board")
    assert f"已退回 R{report.id}" in page.inner_text("main")
    db.session.expire_all()
    assert db.session.get(Report, report.id).status == "returned"

    # Download the roll-up and read its cells.
    with page.expect_download() as info:
        page.click("a[href*='townships.xlsx']")
    path = tmp_path / "rollup.xlsx"
    info.value.save_as(path)
    ws = load_workbook(io.BytesIO(path.read_bytes())).active
    assert ws["A1"].value.startswith("涿州市")
    header = [c.value for c in ws[3]]
    rows = {r[0]: r for r in ws.iter_rows(min_row=4, values_only=True)}
    assert rows["码头镇"][header.index("因灾死亡人口（人）")] == 1
    assert rows["合计"][header.index("紧急转移安置人口（人）")] == 120
    assert page.js_errors == []



def test_texting_many_villages_asks_first_and_says_how_many(page, tree, make_person, rows):
    """'要求每日报告' made every village of the event owe a daily report (22 reminders went out)
    in one click; now the browser asks, naming how many villages, and a 'no' changes nothing."""
    from reporter.models import Event

    county = make_person("county", tree.county, name="县应急办值班员")
    event = rows.event(tree.county)
    rows.incident(tree.village, event, figures={"relocated": 3})
    page.goto("/login")
    page.fill("input[name=phone]", county.phone)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/board")

    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.dismiss()))
    page.click("text=要求每日报告（含零报告）")
    page.wait_for_timeout(500)
    assert questions and "2 个村" in questions[0]  # 码头镇 has two villages
    db.session.expire_all()
    assert db.session.get(Event, event.id).daily_report is False

    page.once("dialog", lambda d: d.accept())
    page.click("text=要求每日报告（含零报告）")
    page.wait_for_url("**/board")
    page.wait_for_selector("text=取消每日报告")
    db.session.expire_all()
    assert db.session.get(Event, event.id).daily_report is True


def test_a_casualty_alert_in_a_background_tab_shows_in_its_title(page, tree, make_person, rows):
    """Nothing drew attention when casualties arrived in a background tab: the title now counts
    casualty, skip-level and overdue escalations until someone looks at the board again."""
    county = make_person("county", tree.county, name="县应急办值班员")
    event = rows.event(tree.county)
    incident, _ = rows.incident(tree.village, event, figures={"deaths": 1})
    page.goto("/login")
    page.fill("input[name=phone]", county.phone)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/board")
    title = page.title()
    page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true})")
    rows.escalation(incident, [county], rule="E2", level="county")
    _until(lambda: page.title() == f"(1) {title}", "the count in the title")
    page.evaluate("Object.defineProperty(document, 'hidden', {value: false, configurable: true});"
                  "document.dispatchEvent(new Event('visibilitychange'))")
    _until(lambda: page.title() == title, "the title back once looked at")


def _until(condition, what: str, seconds: float = 15.0) -> None:
    """Poll the page from Python (the CSP forbids the string evaluation wait_for_function uses)."""
    import time

    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_attention_sound_and_notification_are_opt_in_and_remembered(page, tree, make_person, rows):
    """Casualty, skip-level and overdue escalations can ring (off by default, kept in localStorage)
    and raise a browser notification (only after the officer clicked to allow it)."""
    county = make_person("county", tree.county, name="县应急办值班员")
    event = rows.event(tree.county)
    incident, _ = rows.incident(tree.village, event, figures={"deaths": 1})
    page.context.grant_permissions(["notifications"])
    page.goto("/login")
    page.fill("input[name=phone]", county.phone)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/board")
    sound = page.locator("#attention-sound")
    assert sound.is_visible() and not sound.is_checked()  # off by default
    notify = page.locator("#attention-notify")
    assert notify.inner_text() == "开启桌面通知"
    rows.escalation(incident, [county], rule="E1", level="county")  # not serious: no sound
    page.wait_for_timeout(4000)
    assert page.locator("#board").get_attribute("data-attention-sounds") is None

    sound.check()
    notify.click()
    _until(lambda: notify.inner_text() == "关闭桌面通知", "notifications on")
    page.reload()
    assert page.locator("#attention-sound").is_checked()  # remembered
    assert page.locator("#attention-notify").inner_text() == "关闭桌面通知"
    page.evaluate("Object.defineProperty(document, 'hidden', {value: true, configurable: true})")
    rows.escalation(incident, [county], rule="E3", level="county")
    board = page.locator("#board")
    _until(lambda: board.get_attribute("data-attention-sounds") == "1", "the sound")
    _until(lambda: board.get_attribute("data-attention-notifications") == "1", "the notification")
    assert page.js_errors == []
