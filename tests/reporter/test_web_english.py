"""The officers' pages in English (`?lang=en`): every word of the interface translated; only the
data (the village's name, what the officer typed) stays Chinese. Still no script."""

from __future__ import annotations

import re

from tests.conftest import csrf_token
from tests.reporter.conftest import reports
from tests.reporter.test_web import log_in

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+")
ALWAYS = {"中文"}  # the language switcher


def chinese_left(html: str, data: set[str]) -> set[str]:
    body = html.split("<body", 1)[1]
    text = re.sub(r"<[^>]+>", " ", body)
    return {run for run in CJK.findall(text) if run not in data | ALWAYS}


def test_officer_pages_in_english(app, client, officer):
    with app.app_context():
        login_page = client.get("/report?lang=en").get_data(as_text=True)
    assert "Send me a code" in login_page and "<script" not in login_page
    assert chinese_left(login_page, set()) == set()
    log_in(client, officer)
    with app.app_context():
        form = client.get("/report").get_data(as_text=True)
    assert "Submit report" in form and "Deaths" in form and "<script" not in form
    assert chinese_left(form, {"王庄村", officer.name}) == set()
    token = csrf_token(client, "/report")
    with app.app_context():
        bad = client.post("/report", data={"csrf_token": token, "deaths": "many"}).get_data(as_text=True)
    assert "Deaths: enter a number." in bad
    with app.app_context():
        done = client.post("/report", data={"csrf_token": token, "kind": "initial", "hazard": "flood",
                                            "missing": "1", "relocated": "120", "narrative": "堤坝漏水"},
                           follow_redirects=True).get_data(as_text=True)
    [report] = reports()
    assert f"Report R{report.id} received." in done
    assert chinese_left(done, {"王庄村", "堤坝漏水", officer.name}) == set()
    assert "Missing 1" in done


def test_officer_pages_stay_chinese_by_default(client, officer):
    page = client.get("/report").get_data(as_text=True)
    assert "获取验证码" in page and "Send me a code" not in page
