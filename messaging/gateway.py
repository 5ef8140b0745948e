"""The SMS gateway: one interface, several backends, and Twilio's webhook signatures.

`console` and `twilio` live here; the mainland providers (`aliyun`, `tencent`) in
`messaging.providers`, which registers them in `BACKENDS`. `SMS_BACKEND` names one backend or two
comma-separated (`aliyun,tencent`): the second takes a send the first fails retryably.

Callers get a `SendResult` or a `GatewayError` that says whether a retry is safe
(`retryable`) and whether the text may have gone out anyway (`ambiguous`, e.g. a read
timeout): the outbound job decides what to do from those two facts alone.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Protocol

import requests
import urllib3
from flask import current_app
from sqlalchemy import insert
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from core.exercises import DRILL_PREFIX
from core.extensions import db
from messaging.models import ConsoleSms
from messaging.templates import Recognised

log = logging.getLogger("zaibao.sms")

# Twilio error codes that no retry will fix (invalid number, unsubscribed, not a mobile, ...).
PERMANENT_CODES = {21211, 21214, 21408, 21610, 21612, 21614, 30003, 30005, 30006}
GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
           "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
MAX_SEGMENTS = 2


@dataclass(frozen=True)
class SendResult:
    sid: str
    status: str
    provider: str = ""


class GatewayError(Exception):
    """`retryable`: a later try may work; `ambiguous`: the text may have gone out anyway;
    `failover`: another provider may take it (False for a bad number: no provider will)."""

    def __init__(self, message: str, *, retryable: bool, ambiguous: bool = False,
                 code: int | None = None, status: int | None = None, failover: bool | None = None):
        super().__init__(message)
        self.retryable, self.ambiguous, self.code, self.status = retryable, ambiguous, code, status
        self.failover = retryable if failover is None else failover
        self.provider = ""


class Gateway(Protocol):
    name: str

    def send(self, to: str, body: str, template: Recognised | None = None) -> SendResult: ...


def is_ucs2(text: str) -> bool:
    return any(ch not in GSM7 for ch in text)


def segment_count(text: str) -> int:
    """SMS segments the text needs: UCS-2 70/67 characters, GSM-7 160/153."""
    single, multi = (70, 67) if is_ucs2(text) else (160, 153)
    n = len(text)
    return 1 if n <= single else -(-n // multi)


def fit(text: str, segments: int = MAX_SEGMENTS) -> str:
    """Cut a text to at most `segments` segments, marking the cut with '…' ('...' in GSM-7 text,
    where '…' would turn the whole message into UCS-2 and more than double its segments)."""
    ucs2 = is_ucs2(text)
    limit = (67 if ucs2 else 153) * segments if segments > 1 else (70 if ucs2 else 160)
    if len(text) <= limit:
        return text
    mark = "…" if ucs2 else "..."
    return text[: limit - len(mark)] + mark


def fit_reply(text: str, exercise_id: int | None) -> str:
    """`fit`, leaving room for the 【演练】 prefix a drill's SMS will carry (added by the outbox
    or the intake), so that the prefixed text still fits."""
    if exercise_id is None:
        return fit(text)
    return fit(DRILL_PREFIX + text).removeprefix(DRILL_PREFIX)


@cache
def _console_insert():
    return insert(ConsoleSms.__table__)


class ConsoleGateway:
    """Writes the SMS to the log and to `console_sms`, in the caller's transaction (the send job
    commits each of its statements as it runs)."""

    name = "console"

    def __init__(self, _config=None) -> None:
        pass

    def send(self, to: str, body: str, template: Recognised | None = None) -> SendResult:
        sid = "CN" + uuid.uuid4().hex
        log.info("SMS to %s: %s", to, body)
        db.session.execute(_console_insert(), {"sid": sid, "to": to, "body": body})
        return SendResult(sid=sid, status="sent", provider=self.name)


class TwilioGateway:
    """The real `twilio` client, with a timeout, pointed at TWILIO_API_BASE (SPEC §10). It sends the
    text itself (a template only names it)."""

    name = "twilio"

    def __init__(self, config) -> None:
        self.config = config
        # A non-empty environment mapping: the client falls back to os.environ for an empty
        # one, and TWILIO_EDGE/TWILIO_REGION there would rewrite the host.
        self.client = Client(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                             http_client=TwilioHttpClient(timeout=config["TWILIO_TIMEOUT_SECONDS"]),
                             environment={"ZAIBAO": "1"})
        self.client.api.base_url = config["TWILIO_API_BASE"].rstrip("/")

    def send(self, to: str, body: str, template: Recognised | None = None) -> SendResult:
        kwargs = {"to": to, "body": body,
                  "status_callback": self.config["PUBLIC_BASE_URL"] + "/sms/status"}
        if self.config.get("TWILIO_MESSAGING_SERVICE_SID"):
            kwargs["messaging_service_sid"] = self.config["TWILIO_MESSAGING_SERVICE_SID"]
        else:
            kwargs["from_"] = self.config["TWILIO_FROM"]
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            retryable = exc.status == 429 or exc.code == 20429 or (exc.status or 0) >= 500
            if exc.code in PERMANENT_CODES:
                retryable = False
            raise GatewayError(f"Twilio {exc.status} {exc.code}: {exc.msg}", retryable=retryable,
                               code=exc.code, status=exc.status) from exc
        except requests.exceptions.ConnectTimeout as exc:
            raise GatewayError(f"connect timeout: {exc}", retryable=True) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise GatewayError(f"read timeout: {exc}", retryable=True, ambiguous=True) from exc
        except requests.exceptions.ConnectionError as exc:
            # Refused / unresolvable: the request never left, so a retry cannot duplicate the SMS.
            # A connection dropped after sending may have delivered it: that one is ambiguous.
            raise GatewayError(f"connection failed: {exc}", retryable=True,
                               ambiguous=not _never_connected(exc)) from exc
        except (TwilioException, requests.exceptions.RequestException) as exc:
            raise GatewayError(f"gateway error: {exc}", retryable=True, ambiguous=True) from exc
        return SendResult(sid=message.sid, status=message.status or "queued", provider=self.name)


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


# name → factory(config); messaging.providers adds "aliyun" and "tencent".
BACKENDS: dict[str, Callable[..., Gateway]] = {"console": ConsoleGateway, "twilio": TwilioGateway}


def backend_names(config) -> list[str]:
    """SMS_BACKEND as a list: one backend, or two comma-separated (the second is the failover)."""
    names = [n.strip() for n in str(config["SMS_BACKEND"]).split(",") if n.strip()]
    unknown = [n for n in names if n not in BACKENDS]
    if not names or unknown or len(names) > 2 or len(set(names)) != len(names):
        raise RuntimeError(f"SMS_BACKEND must be 'twilio' or 'console', or one or two of "
                           f"{', '.join(sorted(BACKENDS))} comma-separated, not {config['SMS_BACKEND']!r}")
    return names


class FailoverGateway:
    """Two backends: a send the first fails retryably (throttled, down) goes to the second at
    once. A permanent failure (a bad number) and an ambiguous one (the first may have sent it:
    a read timeout) are not handed over; the outbox's retry policy takes those."""

    def __init__(self, gateways: list[Gateway]) -> None:
        self.gateways = gateways
        self.name = ",".join(g.name for g in gateways)

    def send(self, to: str, body: str, template: Recognised | None = None) -> SendResult:
        errors: list[str] = []
        for index, gateway in enumerate(self.gateways):
            try:
                return gateway.send(to, body, template)
            except GatewayError as exc:
                errors.append(str(exc))
                exc.provider = exc.provider or gateway.name
                if index == len(self.gateways) - 1 or exc.ambiguous or not exc.failover:
                    if len(errors) > 1:
                        exc.args = ("; then ".join(errors),)
                    raise
                log.warning("%s failed (%s); trying %s", gateway.name, exc, self.gateways[index + 1].name)
        raise RuntimeError("no SMS backend configured")


def get_gateway() -> Gateway:
    """The configured backend, one per app (the clients keep connection pools)."""
    app = current_app._get_current_object()
    gateway = app.extensions.get("zaibao_gateway")
    if gateway is None:
        gateways = [BACKENDS[name](app.config) for name in backend_names(app.config)]
        gateway = gateways[0] if len(gateways) == 1 else FailoverGateway(gateways)
        app.extensions["zaibao_gateway"] = gateway
    return gateway


def public_url(path: str, query: str = "") -> str:
    """The URL Twilio called: PUBLIC_BASE_URL (never the proxied Host header) + path."""
    url = current_app.config["PUBLIC_BASE_URL"] + path
    return f"{url}?{query}" if query else url


def signature_valid(path: str, form, signature: str | None, query: str = "") -> bool:
    """Check X-Twilio-Signature over the public URL and the POSTed form (not request.values)."""
    if not signature:
        return False
    validator = RequestValidator(current_app.config["TWILIO_AUTH_TOKEN"])
    return validator.validate(public_url(path, query), form, signature)


def sign(url: str, form: dict, auth_token: str) -> str:
    """Compute the signature Twilio would send (for the simulator, tests and benchmarks)."""
    return RequestValidator(auth_token).compute_signature(url, form)
