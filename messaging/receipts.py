"""Delivery status callbacks for outbound SMS (SPEC §8.3 `POST /sms/status`).

Twilio may deliver callbacks out of order or twice; the status only moves forward
(queued < sending < sent < delivered; undelivered and failed are final), so a late "sent"
never overwrites "delivered".
"""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.models import utcnow
from messaging.models import OutboundSms

# Twilio's statuses mapped onto ours, with their rank.
_MAP = {"accepted": "queued", "scheduled": "queued", "queued": "queued", "sending": "sending", "sent": "sent",
        "delivered": "delivered", "read": "delivered", "undelivered": "undelivered", "failed": "failed",
        "canceled": "failed"}
RANK = {"pending": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4, "undelivered": 5, "failed": 5}
FINAL = ("delivered", "undelivered", "failed")


def record(gateway_sid: str, twilio_status: str, error_code: str | None) -> bool:
    """Apply one callback; returns True when the stored status changed. Commits."""
    new = _MAP.get((twilio_status or "").strip().lower())
    if not gateway_sid or new is None:
        return False
    sms = db.session.scalar(select(OutboundSms).where(OutboundSms.gateway_sid == gateway_sid[:64])
                            .with_for_update())
    if sms is None or sms.status in FINAL or RANK[new] <= RANK.get(sms.status, 0):
        db.session.rollback()
        return False
    sms.status = new
    if new == "delivered":
        sms.delivered_at = utcnow()
    if new in ("sent", "delivered") and sms.sent_at is None:
        sms.sent_at = utcnow()
    if error_code and str(error_code).isdigit():
        sms.error_code = int(error_code)
    db.session.commit()
    return True


def apply(form: dict, _received_at: object = None) -> bool:
    """A Twilio status callback's form (the webhook, or its spooled copy replayed)."""
    return record(form.get("MessageSid", ""), form.get("MessageStatus", ""), form.get("ErrorCode"))


def record_provider(gateway_sid: str, delivered: bool, error: str | None) -> bool:
    """A mainland provider's receipt: delivered, or not (its error code kept for the county)."""
    changed = record(gateway_sid, "delivered" if delivered else "undelivered", None)
    if changed and not delivered and error:
        sms = db.session.scalar(select(OutboundSms).where(OutboundSms.gateway_sid == gateway_sid[:64]))
        if sms is not None:
            sms.last_error = error[:1000]
            db.session.commit()
    return changed


def _truthy(value: object) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "success")


def apply_aliyun(items: object) -> int:
    """Aliyun SmsReport: [{phone_number, send_time, report_time, success, err_code, err_msg, sms_size,
    biz_id, out_id}]. Returns how many changed a status."""
    changed = 0
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict) and item.get("biz_id"):
            error = f"aliyun {item.get('err_code') or ''}: {item.get('err_msg') or ''}".strip()
            changed += record_provider(f"aliyun:{item['biz_id']}", _truthy(item.get("success")), error)
    return changed


def apply_tencent(items: object) -> int:
    """Tencent status callback: [{user_receive_time, nationcode, mobile, report_status (SUCCESS|FAIL),
    errmsg, description, sid}]."""
    changed = 0
    for item in items if isinstance(items, list) else [items]:
        if isinstance(item, dict) and item.get("sid"):
            error = f"tencent {item.get('errmsg') or ''}: {item.get('description') or ''}".strip()
            changed += record_provider(f"tencent:{item['sid']}", str(item.get("report_status")).upper() == "SUCCESS",
                                       error)
    return changed
