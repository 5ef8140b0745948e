"""Play Twilio from the command line: post a correctly signed inbound-SMS webhook to a running
service and read its TwiML reply (`flask sms send`), so a newcomer can "send" an SMS from a demo
officer's phone without a phone or a Twilio account.
"""

from __future__ import annotations

import uuid
from xml.etree import ElementTree

import requests
from flask import current_app

from core.people import BadPhone, normalise_phone
from messaging.gateway import segment_count, sign

INBOUND_PATH = "/sms/inbound"


class SmsClientError(Exception):
    """What went wrong, worded for the person at the terminal."""


def webhook_form(from_phone: str, body: str) -> dict[str, str]:
    """The form Twilio posts for an inbound SMS (the fields the service reads)."""
    config = current_app.config
    return {"MessageSid": "SMtest" + uuid.uuid4().hex[:28], "AccountSid": config["TWILIO_ACCOUNT_SID"],
            "From": from_phone, "To": config["TWILIO_FROM"], "Body": body,
            "NumSegments": str(segment_count(body)), "NumMedia": "0"}


def send_inbound(phone: str, body: str, base_url: str | None = None, timeout: float = 10.0) -> list[str]:
    """Post the signed webhook to `<base_url>/sms/inbound`; return the texts of the reply's <Message>s.

    The signature covers the exact URL posted, so the service must be reached at its
    PUBLIC_BASE_URL (the default base) for it to accept the message.
    """
    try:
        sender = normalise_phone(phone)
    except BadPhone as exc:
        raise SmsClientError(str(exc)) from None
    url = (base_url or current_app.config["PUBLIC_BASE_URL"]).rstrip("/") + INBOUND_PATH
    form = webhook_form(sender, body)
    signature = sign(url, form, current_app.config["TWILIO_AUTH_TOKEN"])
    try:
        response = requests.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=timeout)
    except requests.RequestException as exc:
        raise SmsClientError(f"could not reach {url}: {exc} (is `make run` running?)") from None
    if response.status_code != 200:
        hint = " (wrong signature: is --url the service's PUBLIC_BASE_URL?)" if response.status_code == 403 else ""
        raise SmsClientError(f"{url} answered HTTP {response.status_code}{hint}: "
                             f"{response.text.strip()[:300]}")
    try:
        root = ElementTree.fromstring(response.content)
    except ElementTree.ParseError as exc:
        raise SmsClientError(f"{url} answered 200 but not TwiML ({exc}): {response.text[:300]}") from None
    # <Message>text</Message> or <Message><Body>text</Body></Message>: both are TwiML.
    return ["".join(message.itertext()).strip() for message in root.iter("Message")]
