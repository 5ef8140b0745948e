"""messaging routes: the gateway's delivery-status callbacks for the SMS we sent (kept in the spool
while the database is down or hung, applied once when it returns)."""

from __future__ import annotations

from flask import Blueprint, Response

from core.extensions import csrf
from messaging import receipts
from messaging.webhooks import signed, store_or_spool, twiml, webhook_form

bp = Blueprint("messaging", __name__)


@bp.post("/sms/status")
@csrf.exempt
def sms_status():
    """Twilio status callback for our outbound SMS; the status only moves forward."""
    form = webhook_form()
    if not signed(form):
        return Response("invalid signature", status=403, mimetype="text/plain")
    fields = form.to_dict()
    store_or_spool(lambda: receipts.apply(fields), fields)  # Twilio does not retry a callback: never lose one
    return twiml(None)
