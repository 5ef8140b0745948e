"""What every SMS webhook needs: the signed form as the gateway posted it, and a TwiML answer.

Twilio signs its requests (`X-Twilio-Signature` over PUBLIC_BASE_URL + path and the POSTed
form); a request that fails the check is refused and logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from flask import Response, current_app, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import MultiDict

from core.extensions import db
from core.timelimit import TooSlow, time_limit
from messaging import push, spool
from messaging.gateway import fit, signature_valid

T = TypeVar("T")

log = logging.getLogger("zaibao.sms")
SIGNATURE_FAILURES = {"count": 0}  # per process; every failure is also a WARNING log line


def twiml(reply: str | None) -> Response:
    body = f"<Message>{escape(fit(reply))}</Message>" if reply else ""
    return Response(f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>',
                    mimetype="text/xml")


MAX_WEBHOOK_BYTES = 64 * 1024


def webhook_form() -> MultiDict:
    """The POSTed form. A broken gateway may send bytes that are not UTF-8; Werkzeug then yields
    an empty form, so we decode the body ourselves with replacement characters instead of
    dropping the message (the signature is still checked over what we decoded)."""
    raw = request.get_data(cache=True)
    form = request.form
    if not form and raw:
        text = raw.decode("utf-8", errors="replace")
        form = MultiDict(parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"))
    return form


def signed(form) -> bool:
    query = request.query_string.decode("utf-8", errors="replace")  # part of the URL Twilio signed
    if signature_valid(request.path, form, request.headers.get("X-Twilio-Signature"), query):
        return True
    SIGNATURE_FAILURES["count"] += 1
    log.warning("rejected %s with a bad or missing signature from %s (MessageSid %r, failures so far %d)",
                request.path, request.remote_addr, form.get("MessageSid", "")[:64],
                SIGNATURE_FAILURES["count"])
    return False


def store_or_spool(store: Callable[[], T], form: dict, spool_path: str | None = None) -> T | None:
    """Run `store` (one transaction that keeps what the provider pushed) within
    WEBHOOK_STORE_SECONDS. If the database is down or hung, spool the request instead and
    return None: the caller still answers the provider, and the spool replays it once later.

    The connection's state is unknown then, so it is dropped without another word to the
    server (a ROLLBACK would hang too). `spool_path` names the replay handler when the request's
    path must not be written down (a push URL carries its secret token)."""
    try:
        with time_limit(current_app.config["WEBHOOK_STORE_SECONDS"]):
            return store()
    except (OperationalError, TooSlow) as exc:
        log.error("database unreachable or hung (%s); spooling %s %r", exc, request.path, form.get("MessageSid"))
        db.session().invalidate()
        spool.append(form, {"X-Twilio-Signature": request.headers.get("X-Twilio-Signature", "")},
                     spool_path or request.path)
        return None


MAX_PUSH_BYTES = 1024 * 1024


def answer_push(provider: str, token: str, spool_path: str, store: Callable[[str], object]) -> Response:
    """A mainland provider's push (inbound SMS or receipts): the URL's secret token (wrong: 404,
    nothing stored), a size limit, `store(raw body)` within the store limit or the spool, then
    the answer the provider waits for (else it pushes again)."""
    if not push.token_valid(provider, token):
        return Response("not found", status=404, mimetype="text/plain")
    if (request.content_length or 0) > MAX_PUSH_BYTES:
        return Response("request too large", status=413, mimetype="text/plain")
    raw = request.get_data(cache=True).decode("utf-8", errors="replace")
    store_or_spool(lambda: store(raw), {"payload": raw}, spool_path=spool_path)
    return jsonify(push.ANSWERS[provider])
