"""POST /sms/status: signed delivery callbacks; the status only moves forward."""

from __future__ import annotations

from core.extensions import db
from messaging.gateway import sign
from messaging.models import OutboundSms
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL


def callback(client, sid: str, status: str, error: str | None = None, signature: str | None = None):
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": "AC" + "1" * 32}
    if error:
        form["ErrorCode"] = error
    sig = signature if signature is not None else sign(PUBLIC_BASE_URL + "/sms/status", form, AUTH_TOKEN)
    return client.post("/sms/status", data=form, headers={"X-Twilio-Signature": sig})


def status_of(sms_id: int) -> OutboundSms:
    db.session.rollback()
    return db.session.get(OutboundSms, sms_id)


def test_status_moves_forward_only(client):
    sms = OutboundSms(to_phone="+8613800000001", body="x", purpose="notice", status="queued", gateway_sid="SMout1")
    db.session.add(sms)
    db.session.commit()
    assert callback(client, "SMout1", "sent").status_code == 200
    assert status_of(sms.id).status == "sent" and status_of(sms.id).sent_at is not None
    callback(client, "SMout1", "delivered")
    callback(client, "SMout1", "sent")     # late and out of order
    callback(client, "SMout1", "failed")   # delivered is final
    row = status_of(sms.id)
    assert row.status == "delivered" and row.delivered_at is not None


def test_failure_is_final_and_keeps_the_error_code(client):
    sms = OutboundSms(to_phone="+8613800000002", body="x", purpose="notice", status="sending", gateway_sid="SMout2")
    db.session.add(sms)
    db.session.commit()
    callback(client, "SMout2", "undelivered", error="30003")
    callback(client, "SMout2", "delivered")
    row = status_of(sms.id)
    assert row.status == "undelivered" and row.error_code == 30003


def test_unsigned_or_unknown_callbacks(client):
    sms = OutboundSms(to_phone="+8613800000003", body="x", purpose="notice", status="queued", gateway_sid="SMout3")
    db.session.add(sms)
    db.session.commit()
    assert callback(client, "SMout3", "delivered", signature="forged").status_code == 403
    assert callback(client, "SMout3", "delivered", signature="").status_code == 403
    assert status_of(sms.id).status == "queued"
    assert callback(client, "SMnobody", "delivered").status_code == 200
    assert callback(client, "SMout3", "exploded").status_code == 200
    assert status_of(sms.id).status == "queued"
