"""`flask board sms FROM BODY`: post one correctly signed test SMS to a running server.

For demos and smoke tests (the issue's "one-line command"): it signs exactly as Twilio does,
with TWILIO_AUTH_TOKEN over PUBLIC_BASE_URL + /sms/inbound, and prints the TwiML reply.

    .venv/bin/flask --app wsgi board sms +8613800000001 "初报 洪涝 转移30 死亡1"
"""

from __future__ import annotations

import uuid

import click
import requests
from flask import current_app

from core.gateway import public_url, sign
from dispatch.board.views import bp


@bp.cli.command("sms")
@click.argument("from_phone")
@click.argument("body")
@click.option("--url", default=None, help="server to post to (default: PUBLIC_BASE_URL)")
def send_test_sms(from_phone: str, body: str, url: str | None) -> None:
    """Post a signed Twilio webhook with FROM_PHONE and BODY; print the reply."""
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": current_app.config["TWILIO_ACCOUNT_SID"],
            "From": from_phone, "To": current_app.config["TWILIO_FROM"], "Body": body, "NumSegments": "1"}
    signature = sign(public_url("/sms/inbound"), form, current_app.config["TWILIO_AUTH_TOKEN"])
    target = (url.rstrip("/") if url else current_app.config["PUBLIC_BASE_URL"]) + "/sms/inbound"
    response = requests.post(target, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)
    click.echo(f"{response.status_code} {response.text}")
    if response.status_code != 200:
        raise SystemExit(1)
