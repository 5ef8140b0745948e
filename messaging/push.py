"""Inbound SMS pushed by Aliyun (上行 HTTP batch push) and Tencent Cloud (reply callback), normalised
to the one shape the intake reads, and the parts of a long SMS held until they can be joined.

Neither provider signs its pushes: the push URL carries a secret token (ALIYUN_INBOUND_TOKEN,
TENCENT_INBOUND_TOKEN), compared in constant time; an unset token refuses every push.

Duplicates: a provider may push the same SMS twice (Aliyun's docs warn of it; both retry when the
answer is late). Aliyun's `sequence_id` is its id for an SMS, so the message id is
`aliyun:<sequence_id>`. Tencent's reply callback has no id: the message id is derived by the
intake from (phone, text, provider's send time), so a repeated push is recognised whenever it
is repeated, not only within a window.

Long SMS: the parts of a long SMS may arrive as separate pushes. A pushed text that fills a
whole UCS-2 (67) or GSM-7 (153) segment is probably followed by more, so it is held (committed,
table `inbound_parts`) and joined, in the provider's order, with what the same phone sends within
PART_WAIT_SECONDS; a held part nobody continues is handed on alone by a sweep.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.extensions import db
from core.models import utcnow
from core.queue import periodic
from messaging.gateway import is_ucs2
from messaging.models import InboundPart

log = logging.getLogger("zaibao.sms")
PART_SIZES = {True: 67, False: 153}   # a split SMS's segment: UCS-2, GSM-7
# What each provider wants to hear once a push is stored (else it pushes again).
ANSWERS = {"aliyun": {"code": 0, "msg": "成功"}, "tencent": {"result": 0, "errmsg": "OK"}}


@dataclass(frozen=True)
class PushedSms:
    provider: str
    sid: str | None          # the provider's id, prefixed; None: the intake derives one
    phone: str
    to: str
    body: str
    sent_at: str
    position: int | None = None

    def form(self, body: str | None = None, sid: str | None = None) -> dict[str, str]:
        """The mapping `reporter.intake.receive_sms` reads."""
        form = {"From": self.phone, "To": self.to, "Body": self.body if body is None else body,
                "SentAt": self.sent_at, "Provider": self.provider}
        if sid or self.sid:
            form["MessageSid"] = sid or self.sid
        return form


def token_valid(provider: str, token: str) -> bool:
    expected = current_app.config.get(f"{provider.upper()}_INBOUND_TOKEN") or ""
    return bool(expected) and hmac.compare_digest(expected.encode(), (token or "").encode())


def load_json(raw: bytes) -> object:
    """The pushed JSON, or None when it is not JSON at all."""
    try:
        return json.loads(raw.decode("utf-8", errors="replace"))
    except ValueError:
        return None


def _phone(raw: object, nationcode: object = "86") -> str:
    digits = str(raw or "").strip()
    if digits.startswith("+"):
        return digits
    return f"+{str(nationcode or '86').strip() or '86'}{digits}" if digits.isdigit() else ""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else (str(value) if isinstance(value, int | float) else None)


def aliyun_inbound(payload: object) -> tuple[list[PushedSms], list[object]]:
    """Aliyun's batch: [{phone_number, send_time, content, sign_name, dest_code, sequence_id}]."""
    good, bad = [], []
    for item in payload if isinstance(payload, list) else [payload]:
        if not isinstance(item, dict):
            bad.append(item)
            continue
        phone, body, seq = _phone(item.get("phone_number")), _text(item.get("content")), _text(item.get("sequence_id"))
        if not phone or body is None or not seq:
            bad.append(item)
            continue
        position = int(seq) if seq.isdigit() and len(seq) < 19 else None
        good.append(PushedSms("aliyun", f"aliyun:{seq}"[:64], phone, str(item.get("dest_code") or ""), body,
                              str(item.get("send_time") or ""), position))
    return good, bad


def tencent_inbound(payload: object) -> tuple[list[PushedSms], list[object]]:
    """Tencent's reply callback {extend, mobile, nationcode, sign, text, time} (one, or an array)."""
    good, bad = [], []
    for item in payload if isinstance(payload, list) else [payload]:
        if not isinstance(item, dict):
            bad.append(item)
            continue
        phone, body = _phone(item.get("mobile"), item.get("nationcode")), _text(item.get("text"))
        if not phone or body is None or item.get("time") in (None, ""):
            bad.append(item)
            continue
        good.append(PushedSms("tencent", None, phone, str(item.get("extend") or ""), body, str(item.get("time"))))
    return good, bad


def bad_form(provider: str, item: object) -> dict[str, str]:
    """An element nobody can read, kept for review as a message from nobody: its raw JSON is the
    text (the intake derives a stable id from it, so a repeat is still one message)."""
    return {"From": "", "To": provider, "Body": json.dumps(item, ensure_ascii=False)[:1600], "Provider": provider}


# ---- long SMS -------------------------------------------------------------------------------

def may_continue(sms: PushedSms) -> bool:
    return len(sms.body) == PART_SIZES[is_ucs2(sms.body)]


def hold(sms: PushedSms) -> bool:
    """Keep a part that may continue (committed before the push is answered); False if it was
    pushed before (a duplicate)."""
    db.session.add(InboundPart(sid=(sms.sid or f"{sms.provider}:{sms.phone}:{sms.sent_at}:{sms.body}")[:64],
                               provider=sms.provider, from_phone=sms.phone, to_phone=sms.to, body=sms.body,
                               sent_at=sms.sent_at, position=sms.position))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def _waiting(phone: str, provider: str, since: datetime) -> list[InboundPart]:
    return list(db.session.scalars(select(InboundPart).where(
        InboundPart.from_phone == phone, InboundPart.provider == provider, InboundPart.joined_into.is_(None),
        InboundPart.received_at >= since).order_by(InboundPart.position, InboundPart.id)))


def join_held(sms: PushedSms) -> dict[str, str]:
    """The form to hand on for `sms`: the parts the same phone left waiting, in order, then it.
    The parts are marked as joined in the current transaction (the intake's commit keeps both)."""
    window = timedelta(seconds=current_app.config["PART_WAIT_SECONDS"])
    parts = _waiting(sms.phone, sms.provider, utcnow() - window)
    if not parts:
        return sms.form()
    form = sms.form(body="".join(p.body for p in parts) + sms.body, sid=sms.sid or f"{parts[0].sid}+")
    db.session.execute(update(InboundPart).where(InboundPart.id.in_([p.id for p in parts]))
                       .values(joined_into=form.get("MessageSid", "")[:64]))
    return form


Release = Callable[[dict[str, str], datetime], None]


def register_release(app: Flask, handler: Release) -> None:
    """Who takes a joined SMS whose continuation never came (the reporter's intake)."""
    app.extensions["zaibao_part_release"] = handler


@periodic(5, name="messaging.release_parts")
def release_parts() -> None:
    """Held parts nobody continued within PART_WAIT_SECONDS: hand each phone's parts on, joined."""
    handler = current_app.extensions.get("zaibao_part_release")
    if handler is None:
        return
    before = utcnow() - timedelta(seconds=current_app.config["PART_WAIT_SECONDS"])
    stale = list(db.session.scalars(select(InboundPart).where(
        InboundPart.joined_into.is_(None), InboundPart.received_at < before).order_by(InboundPart.id).limit(500)))
    by_phone: dict[tuple[str, str], list[InboundPart]] = {}
    for part in stale:
        by_phone.setdefault((part.provider, part.from_phone), []).append(part)
    for (provider, phone), parts in by_phone.items():
        parts.sort(key=lambda p: (p.position is None, p.position or 0, p.id))
        first = parts[0]
        sid = f"{first.sid}+"[:64]
        form = {"From": phone, "To": first.to_phone, "Body": "".join(p.body for p in parts), "SentAt": first.sent_at,
                "Provider": provider, "MessageSid": sid}
        ids = [p.id for p in parts]
        db.session.execute(update(InboundPart).where(InboundPart.id.in_(ids)).values(joined_into=sid))
        handler(form, first.received_at.replace(tzinfo=first.received_at.tzinfo or UTC))
        # (a repeat rolls the handler's transaction back: mark the parts handed on regardless)
        db.session.execute(update(InboundPart).where(InboundPart.id.in_(ids)).values(joined_into=sid))
        db.session.commit()
