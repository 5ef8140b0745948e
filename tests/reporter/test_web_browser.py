"""The officers' form in a real phone-sized Chromium with JavaScript switched off."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.extensions import db
from messaging.models import OutboundSms
from tests.reporter.conftest import reports

pytestmark = pytest.mark.browser


def test_phone_without_javascript_reports_a_flood(live_server, officer):
    from playwright.sync_api import sync_playwright

    phone = officer.phone
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740},
                                          locale="zh-CN")
            page = context.new_page()
            page.goto(live_server + "/report")
            page.fill("input[name=phone]", phone[3:])  # as officers write it: 138…
            page.click("button:has-text('获取验证码')")
            assert "验证码已发送" in page.content()
            db.session.rollback()
            sms = db.session.scalar(select(OutboundSms).where(OutboundSms.purpose == "otp"))
            code = re.search(r"\d{6}", sms.body).group(0)
            page.fill("input[name=code]", code)
            page.click("button:has-text('登录')")
            page.select_option("select[name=hazard]", "flood")
            page.fill("input[name=deaths]", "0")
            page.fill("input[name=missing]", "1")
            page.fill("input[name=relocated]", "120")
            page.fill("textarea[name=narrative]", "<script>alert(1)</script> 堤坝漏水")
            page.click("button:has-text('提交报告')")
            text = page.inner_text("main")
            [report] = reports()
            assert f"已收到初报R{report.id}(洪涝 王庄村): 死亡0 失踪1 转移120" in text
            assert report.channel == "web" and report.narrative.startswith("<script>")
            box = page.locator("button:has-text('提交报告')").bounding_box()
            assert box["width"] > 300 and box["height"] >= 40  # a big target on a small screen
        finally:
            browser.close()
