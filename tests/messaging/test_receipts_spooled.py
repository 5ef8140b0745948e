"""Delivery receipts while the database is down or hung (issue 13, item 5): Twilio does not retry a
status callback, so one answered 500 was lost. It is spooled like an inbound SMS, answered at once,
and applied once when the database is back."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from core.extensions import db
from messaging import spool
from messaging.gateway import sign
from messaging.models import OutboundSms, SmsStatus
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.private_postgres import signal_all


@pytest.fixture
def receipts_app(private_app):
    app = private_app(WEBHOOK_STORE_SECONDS=1.0)
    with app.app_context():
        db.session.add(OutboundSms(to_phone="+8613800000001", body="【灾情】…", purpose="escalation",
                                   status=SmsStatus.SENT, gateway_sid="SMdelivered0001"))
        db.session.commit()
    return app


def _callback(app, status: str):
    form = {"MessageSid": "SMdelivered0001", "MessageStatus": status, "AccountSid": "AC" + "1" * 32}
    signature = sign(PUBLIC_BASE_URL + "/sms/status", form, AUTH_TOKEN)
    started = time.monotonic()
    response = app.test_client().post("/sms/status", data=form, headers={"X-Twilio-Signature": signature})
    return response, time.monotonic() - started


def test_a_receipt_pushed_while_the_database_hangs_is_kept_and_applied_once(receipts_app, private_postgres):
    signal_all(private_postgres["data"], signal.SIGSTOP)
    waker = threading.Timer(12, signal_all, args=(private_postgres["data"], signal.SIGCONT))
    waker.start()
    try:
        response, took = _callback(receipts_app, "delivered")
    finally:
        waker.cancel()
        signal_all(private_postgres["data"], signal.SIGCONT)
    assert response.status_code == 200 and took < 2.5, took
    with receipts_app.app_context():
        assert spool.pending_count() == 1
        assert spool.replay()["replayed"] == 1 and spool.replay()["replayed"] == 0
        sms = db.session.query(OutboundSms).filter_by(gateway_sid="SMdelivered0001").one()
        assert sms.status == SmsStatus.DELIVERED and sms.delivered_at is not None
