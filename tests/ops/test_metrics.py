"""`GET /metrics` (SPEC §11.1): what an operator's Prometheus scrapes, and who may scrape it."""

from __future__ import annotations

import re
from datetime import timedelta

from core.extensions import db
from core.models import utcnow
from core.queue import queue
from messaging import spool
from messaging.models import OutboundSms, SmsStatus
from reporter.models import InboundMessage, Outcome


def _value(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.M)
    assert match, f"{name}{labels} not in:\n{text}"
    return float(match.group(1))


def _backlog(received_at, n: int = 1) -> None:
    for i in range(n):
        db.session.add(InboundMessage(sid=f"SM-wait-{received_at.timestamp()}-{i}", from_phone="+8613800000001",
                                      body="初报 洪涝 转移3", received_at=received_at, outcome=Outcome.PENDING))
    db.session.commit()


def test_an_empty_service_reports_zeros_and_both_stores_up(client):
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for name in ("zaibao_intake_backlog", "zaibao_intake_oldest_seconds", "zaibao_outbox_pending",
                 "zaibao_outbox_failed", "zaibao_spool_files"):
        assert _value(text, name) == 0
    assert _value(text, "zaibao_database_up") == 1 and _value(text, "zaibao_redis_up") == 1
    assert _value(text, "zaibao_queue_depth", '{queue="sms"}') == 0


def test_backlog_outbox_spool_and_queues_are_counted(client, app):
    _backlog(utcnow() - timedelta(seconds=90), n=2)
    _backlog(utcnow())
    db.session.add_all([OutboundSms(to_phone="+8613800000002", body="x", purpose="notice", status=SmsStatus.PENDING),
                        OutboundSms(to_phone="+8613800000003", body="y", purpose="notice", status=SmsStatus.FAILED),
                        OutboundSms(to_phone="+8613800000004", body="z", purpose="notice",
                                    status=SmsStatus.UNDELIVERED),
                        OutboundSms(to_phone="+8613800000005", body="w", purpose="notice", status=SmsStatus.SENT)])
    db.session.commit()
    spool.append({"MessageSid": "SM-spooled", "From": "+8613800000001", "Body": "零报告"}, {}, "/sms/inbound")
    queue("bulk").enqueue("messaging.jobs.send_sms", 0)

    text = client.get("/metrics").get_data(as_text=True)
    assert _value(text, "zaibao_intake_backlog") == 3
    assert 89 <= _value(text, "zaibao_intake_oldest_seconds") < 150
    assert _value(text, "zaibao_outbox_pending") == 1 and _value(text, "zaibao_outbox_failed") == 2
    assert _value(text, "zaibao_spool_files") == 1
    assert _value(text, "zaibao_queue_depth", '{queue="bulk"}') == 1


def test_only_loopback_without_a_token(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


def test_with_a_token_the_token_is_required_from_anywhere(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-scraper")
    far = {"REMOTE_ADDR": "203.0.113.9"}
    assert client.get("/metrics").status_code == 403  # loopback is not enough any more
    assert client.get("/metrics", environ_base=far, headers={"Authorization": "Bearer wrong"}).status_code == 403
    ok = client.get("/metrics", environ_base=far, headers={"Authorization": "Bearer s3cret-scraper"})
    assert ok.status_code == 200 and "zaibao_intake_backlog" in ok.get_data(as_text=True)


def test_the_board_warns_when_the_backlog_is_old(client, tree, make_person, login):
    login(make_person("county", tree.county))
    assert "条短信尚未处理" not in client.get("/board").get_data(as_text=True)
    assert "正在处理" not in client.get("/board").get_data(as_text=True)
    _backlog(utcnow() - timedelta(seconds=30))
    young = client.get("/board").get_data(as_text=True)
    assert "条短信尚未处理" not in young and "份报告已收到，正在处理" in young  # young: no alarm, but said
    _backlog(utcnow() - timedelta(seconds=75))
    html = client.get("/board").get_data(as_text=True)
    assert "条短信尚未处理" in html and "最早一条已等待" in html
