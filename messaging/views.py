"""messaging routes: the gateway's delivery-status callbacks for the SMS we sent."""

from __future__ import annotations

from flask import Blueprint, Response

from core.extensions import csrf
from messaging import receipts
from messaging.webhooks import signed, twiml, webhook_form

bp = Blueprint("messaging", __name__)


@bp.post("/sms/status")
@csrf.exempt
def sms_status():
    """Twilio status callback for our outbound SMS; the status only moves forward."""
    form = webhook_form()
    if not signed(form):
        return Response("invalid signature", status=403, mimetype="text/plain")
    receipts.record(form.get("MessageSid", ""), form.get("MessageStatus", ""), form.get("ErrorCode"))
    return twiml(None)
