"""Bad input on the webhook (issue 3, SPEC §9): each gets a clear reply or error, nothing is lost."""

from __future__ import annotations

import threading
import uuid
from urllib.parse import parse_qsl

import requests
from sqlalchemy import func, select

from core.extensions import db
from core.indicators import MAX_VALUE
from messaging.gateway import segment_count, sign
from reporter.models import InboundMessage
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.reporter.conftest import message, reports, twiml_text


def _count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(InboundMessage.id)))


def _kept_and_answered(send_sms, phone, body, sid):
    reply = twiml_text(send_sms(phone, body, sid=sid))
    stored = message(sid)
    assert stored is not None and stored.body == body.replace("\x00", "\ufffd")
    assert reply and segment_count(reply) <= 2
    assert stored.reply == reply
    return reply, stored


def test_empty_body(send_sms, officer):
    reply, stored = _kept_and_answered(send_sms, officer.phone, "", "SM-empty")
    assert "未能识别" in reply and stored.outcome == "unparsed" and stored.review_status == "pending"


def test_1600_characters(send_sms, officer):
    body = "洪涝 转移5 " + "村东头大水漫过堤坝" * 177
    assert len(body) >= 1600
    reply, stored = _kept_and_answered(send_sms, officer.phone, body, "SM-long")
    assert len(stored.body) == len(body)  # kept whole
    [report] = reports()
    assert report.indicators == {"relocated": 5} and len(report.narrative) <= 200


def test_emoji_only(send_sms, officer):
    reply, stored = _kept_and_answered(send_sms, officer.phone, "🌊🌊🆘😭", "SM-emoji")
    assert "未能识别" in reply and stored.review_status == "pending"


def test_html_and_script(send_sms, officer, client, api_token, county_staff):
    body = "<script>alert('x')</script><b>洪水</b>"
    response = send_sms(officer.phone, body, sid="SM-html")
    raw = response.get_data(as_text=True)
    assert "<script>" not in raw and "<b>" not in raw
    twiml_text(response)
    assert message("SM-html").body == body
    data = client.get("/api/v1/messages/SM-html", headers=api_token(county_staff)).get_json()
    assert data["body"] == body  # JSON-encoded, never interpreted


def test_sql_looking_text(send_sms, officer):
    body = "'; DROP TABLE reports; -- 死亡1 OR 1=1"
    _kept_and_answered(send_sms, officer.phone, body, "SM-sql")
    assert _count() == 1
    reports()  # the table is still there


def test_mixed_scripts(send_sms, officer):
    reply, stored = _kept_and_answered(send_sms, officer.phone, "初报 FLOOD Мария 洪涝 😀 转移30 ١٢٣", "SM-mixed")
    assert stored.outcome in ("report", "unparsed")


def test_invalid_utf8_from_a_broken_gateway(client, officer):
    sid = "SM-bytes"
    raw = (f"MessageSid={sid}&From={officer.phone.replace('+', '%2B')}&To=%2B8610690000&"
           "Body=%E6%B4%AA%FF%FE%C0%80%00abc\xff").encode("latin-1")
    # What the server sees after decoding with replacement characters; a gateway signs that.
    form = dict(parse_qsl(raw.decode("utf-8", errors="replace"), encoding="utf-8", errors="replace"))
    signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    response = client.post("/sms/inbound", data=raw, content_type="application/x-www-form-urlencoded",
                           headers={"X-Twilio-Signature": signature})
    reply = twiml_text(response)
    stored = message(sid)
    assert stored is not None and "\x00" not in stored.body and "\ufffd" in stored.body
    assert reply


def test_negative_numbers(send_sms, officer):
    reply, stored = _kept_and_answered(send_sms, officer.phone, "初报 洪涝 死亡-3 转移-20", "SM-neg")
    assert "不能为负" in reply and reports() == [] and stored.review_status == "pending"
    # One bad number beside good ones: the good ones are stored and the reply says what was ignored.
    reply, stored = _kept_and_answered(send_sms, officer.phone, "初报 洪涝 死亡-3 转移20", "SM-neg2")
    [report] = reports()
    assert report.indicators == {"relocated": 20} and "不能为负" in reply


def test_numbers_too_large_for_a_column(send_sms, officer):
    reply, stored = _kept_and_answered(send_sms, officer.phone, "初报 洪涝 转移99999999999999999999", "SM-huge")
    assert "过大" in reply and reports() == [] and stored.review_status == "pending"


def test_figures_beyond_the_limit_are_refused_by_the_service_too(officer, app):
    """Whatever the grammar lets through, no figure above MAX_VALUE or below 0 reaches a column."""
    from reporter.saving import plan_report
    from reporter.service import ReportRefused

    for value in (MAX_VALUE + 1, -1, float("inf"), 2**63):
        try:
            plan_report(village=officer.division, author=officer, kind=None, hazard="flood",
                        indicators={"relocated": value}, narrative="", channel="api", message=None, exercise_id=None)
        except ReportRefused as exc:
            assert str(exc)
        else:
            raise AssertionError(f"{value} was accepted")
    db.session.rollback()


def test_hazard_with_no_indicators(send_sms, officer):
    reply, stored = _kept_and_answered(send_sms, officer.phone, "初报 洪涝", "SM-noind")
    assert "缺少灾情数字" in reply
    assert stored.review_status == "pending" and reports() == []


def test_report_without_hazard_and_no_open_incident(send_sms, officer):
    reply, _ = _kept_and_answered(send_sms, officer.phone, "死亡1 转移3", "SM-nohaz")
    assert "请写明灾种" in reply and reports() == []


def test_correction_of_someone_elses_report(send_sms, officer, officer2):
    twiml_text(send_sms(officer.phone, "初报 洪涝 死亡0", sid="SM-a"))
    [report] = reports()
    reply = twiml_text(send_sms(officer2.phone, f"更正 R{report.id} 死亡5", sid="SM-b"))
    assert "不能更正" in reply
    assert reports()[0].deaths == 0 and reports()[0].status == "received"
    assert message("SM-b").outcome == "rejected"


def test_correction_of_unknown_id(send_sms, officer):
    reply = twiml_text(send_sms(officer.phone, "更正 R999999 死亡1", sid="SM-c"))
    assert "未找到报告R999999" in reply


def test_forged_missing_and_stale_signatures(client, officer):
    form = {"MessageSid": "SM-forged", "From": officer.phone, "To": "+8610690000", "Body": "初报 洪涝 死亡9"}
    good = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    attempts = {
        "forged": {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
        "missing": {},
        "other url": {"X-Twilio-Signature": sign("https://evil.test/sms/inbound", form, AUTH_TOKEN)},
        "other path": {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/sms/status", form, AUTH_TOKEN)},
        "wrong token": {"X-Twilio-Signature": sign(PUBLIC_BASE_URL + "/sms/inbound", form, "guess")},
    }
    for name, headers in attempts.items():
        response = client.post("/sms/inbound", data=form, headers=headers)
        assert response.status_code == 403, name
    # Stale: a signature taken from an old body, replayed with a new one.
    changed = dict(form, Body="初报 洪涝 死亡99")
    assert client.post("/sms/inbound", data=changed, headers={"X-Twilio-Signature": good}).status_code == 403
    assert _count() == 0 and reports() == []
    # The genuine one still works afterwards.
    assert client.post("/sms/inbound", data=form, headers={"X-Twilio-Signature": good}).status_code == 200


def _post_signed(url: str, form: dict) -> requests.Response:
    signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    return requests.post(url + "/sms/inbound", data=form, headers={"X-Twilio-Signature": signature}, timeout=60)


def test_same_sid_concurrently(live_server, officer):
    """Eight identical webhooks at the same moment: one message, one report, eight equal replies."""
    phone = officer.phone
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": "+8610690000",
            "Body": "初报 洪涝 死亡0 失踪1 转移40"}
    barrier = threading.Barrier(8)
    results: list = []

    def fire():
        barrier.wait()
        results.append(_post_signed(live_server, form))

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * 8
    assert len({r.text for r in results}) == 1, {r.text for r in results}
    assert "已收到初报R" in results[0].text
    assert _count() == 1 and len(reports()) == 1


def test_different_officers_concurrently(live_server, tree, make_person):
    """Parallel reports of different villages all land (no lost writes, no spurious duplicates)."""
    phones = [make_person("officer_a", v).phone for v in (tree.village, tree.village2, tree.village3)]
    results: list = []

    def fire(phone, n):
        form = {"MessageSid": f"SM-par-{n}", "From": phone, "To": "+8610690000", "Body": "初报 洪涝 转移7"}
        results.append(_post_signed(live_server, form))

    threads = [threading.Thread(target=fire, args=(p, i)) for i, p in enumerate(phones * 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * 6
    assert _count() == 6 and len(reports()) == 6


def test_officers_a_and_b_of_one_village_at_once(live_server, tree, make_person):
    """Both officers report a new flood at the same moment: one incident, one event, two reports."""
    from reporter.models import Event, Incident

    phones = [make_person(role, tree.village).phone for role in ("officer_a", "officer_b")] * 3
    barrier = threading.Barrier(len(phones))
    results: list = []

    def fire(n, phone):
        form = {"MessageSid": f"SM-ab-{n}", "From": phone, "To": "+8610690000", "Body": f"洪涝 转移{n + 1}"}
        barrier.wait()
        results.append(_post_signed(live_server, form))

    threads = [threading.Thread(target=fire, args=(n, p)) for n, p in enumerate(phones)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r.status_code for r in results] == [200] * len(phones)
    db.session.rollback()
    assert db.session.scalar(select(func.count(Incident.id))) == 1
    assert db.session.scalar(select(func.count(Event.id))) == 1
    kinds = sorted(r.kind for r in reports())
    assert kinds == ["initial"] + ["update"] * (len(phones) - 1)


def test_webhook_url_with_a_query_string(client, officer):
    """A webhook configured as /sms/inbound?county=zz is signed over that whole URL."""
    form = {"MessageSid": "SM-query", "From": officer.phone, "To": "+8610690000", "Body": "帮助"}
    good = sign(PUBLIC_BASE_URL + "/sms/inbound?county=zz", form, AUTH_TOKEN)
    assert client.post("/sms/inbound?county=zz", data=form, headers={"X-Twilio-Signature": good}).status_code == 200
    bare = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    assert client.post("/sms/inbound?county=yy", data=form, headers={"X-Twilio-Signature": bare}).status_code == 403


def test_an_absurd_figure_is_refused_kept_and_named_in_the_reply(send_sms, officer):
    reply = twiml_text(send_sms(officer.phone, "初报 洪涝 死亡1e308 转移30"))
    report = reports()[-1]
    assert report.indicators == {"relocated": 30}  # never 死亡1
    assert "死亡1e308" in report.narrative and "死亡1e308" in reply
