"""Web reporting at /report: one-time SMS code login, the no-JavaScript form, CSRF, limits."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select, update

from core.extensions import db
from core.models import utcnow
from messaging.models import OutboundSms
from reporter.models import OneTimeCode
from tests.conftest import csrf_token
from tests.reporter.conftest import reports


def request_code(client, phone: str, ip: str = "10.0.0.1"):
    token = csrf_token(client, "/report")
    return client.post("/report/code", data={"phone": phone, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def sent_code(phone: str) -> str:
    db.session.rollback()
    sms = db.session.scalars(select(OutboundSms).where(OutboundSms.to_phone == phone, OutboundSms.purpose == "otp")
                             .order_by(OutboundSms.id.desc())).first()
    return re.search(r"\b(\d{6})\b", sms.body).group(1)


def verify(client, phone: str, code: str):
    token = csrf_token(client, "/report")
    return client.post("/report/verify", data={"phone": phone, "code": code, "csrf_token": token})


def log_in(client, officer):
    assert request_code(client, officer.phone).status_code == 200
    response = verify(client, officer.phone, sent_code(officer.phone))
    assert response.status_code == 302


def test_login_with_code_then_report(client, officer):
    page = client.get("/report").get_data(as_text=True)
    assert "获取验证码" in page and "<script" not in page
    log_in(client, officer)
    form = client.get("/report").get_data(as_text=True)
    for label in ("报告类型", "灾种", "因灾死亡人口", "公顷", "万元", "情况说明"):
        assert label in form
    token = csrf_token(client, "/report")
    response = client.post("/report", data={"csrf_token": token, "kind": "initial", "hazard": "flood",
                                            "deaths": "0", "missing": "1", "relocated": "120",
                                            "narrative": "<b>堤坝</b>漏水"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    [report] = reports()
    assert report.channel == "web" and report.author_id == officer.id
    assert report.indicators == {"deaths": 0, "missing": 1, "relocated": 120}
    assert f"已收到初报R{report.id}(洪涝 王庄村): 死亡0 失踪1 转移120" in html  # the SMS confirmation text
    assert "<b>堤坝" not in html  # user text is never rendered as HTML
    assert f"R{report.id}" in client.get("/report").get_data(as_text=True)  # recent reports


def test_form_rejects_bad_numbers_and_needs_csrf(client, officer):
    log_in(client, officer)
    token = csrf_token(client, "/report")
    response = client.post("/report", data={"csrf_token": token, "hazard": "flood", "deaths": "很多"})
    assert response.status_code == 400 and "请填写数字" in response.get_data(as_text=True)
    response = client.post("/report", data={"csrf_token": token, "hazard": "flood", "deaths": "-2"})
    assert response.status_code == 400 and "负数" in response.get_data(as_text=True)
    assert client.post("/report", data={"hazard": "flood", "deaths": "1"}).status_code == 400  # no CSRF token
    assert reports() == []


def test_anonymous_cannot_post_a_report(client, officer):
    token = csrf_token(client, "/report")
    assert client.post("/report", data={"csrf_token": token, "hazard": "flood", "deaths": "1"}).status_code == 403


def test_code_is_hashed_expires_and_allows_five_tries(client, officer):
    request_code(client, officer.phone)
    code = sent_code(officer.phone)
    row = db.session.scalar(select(OneTimeCode))
    assert code not in row.code_hash and len(row.code_hash) == 64
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert verify(client, officer.phone, wrong).status_code == 400
    assert verify(client, officer.phone, code).status_code == 400  # used up its tries
    request_code(client, officer.phone)
    fresh = sent_code(officer.phone)
    db.session.execute(update(OneTimeCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert verify(client, officer.phone, fresh).status_code == 400  # expired


def test_code_rate_limits_per_phone_and_per_ip(client, officer, make_person, tree):
    for _ in range(3):
        assert request_code(client, officer.phone, ip="10.0.0.2").status_code == 200
    assert request_code(client, officer.phone, ip="10.0.0.3").status_code == 429
    for n in range(7):  # unknown phones count too, and get the same answer
        assert request_code(client, f"1390000{n:04d}", ip="10.0.0.2").status_code == 200
    assert request_code(client, "13900009999", ip="10.0.0.2").status_code == 429
    db.session.rollback()
    assert db.session.scalar(select(OutboundSms.id).where(OutboundSms.to_phone == "+8613900000001")) is None


def test_staff_and_unknown_phones_get_no_code(client, township_staff):
    response = request_code(client, township_staff.phone)
    assert response.status_code == 200 and "如该号码已登记" in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(OutboundSms.id)) is None
    assert request_code(client, "not a phone").status_code == 400


def test_web_nil_report_and_missing_hazard(client, officer):
    log_in(client, officer)
    token = csrf_token(client, "/report")
    response = client.post("/report", data={"csrf_token": token, "relocated": "5"})
    assert response.status_code == 400 and "请写明灾种" in response.get_data(as_text=True)
    response = client.post("/report", data={"csrf_token": token, "kind": "nil"}, follow_redirects=True)
    html = response.get_data(as_text=True)
    [nil] = reports()
    assert nil.kind == "nil" and nil.channel == "web" and f"零报告{nil.public_id}" in html
