"""One-time SMS codes for the officers' web form: 6 digits, 10 minutes, 5 tries, rate-limited.

Limits are counted in the database (shared by every web worker): per phone 3 codes per 10
minutes, per IP address 10 codes per hour. An unknown phone gets the same answer as a known one
(so the form does not reveal who is registered) but no SMS.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from core.extensions import db
from core.models import Person, utcnow
from core.people import by_phone, try_normalise_phone
from core.roles import OFFICER_ROLES
from messaging.outbox import queue_sms
from messaging.templates import sms_template
from reporter.models import OneTimeCode

OTP = sms_template(
    "login_code",
    "灾报网页登录验证码 {code}，10分钟内有效。请勿告诉他人。",
    "the web form's one-time code")

LIFETIME = timedelta(minutes=10)
MAX_TRIES = 5
PER_PHONE = (3, timedelta(minutes=10))
PER_IP = (10, timedelta(hours=1))


class TooMany(Exception):
    """Rate limit reached; the message says when to try again (in the page's language)."""


def _hash(phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def request_code(raw_phone: str, ip: str | None) -> str | None:
    """Send a code to an active officer's phone; returns the E.164 phone used (None if not a phone).

    Raises TooMany when the phone or the address asked too often. Commits.
    """
    phone = try_normalise_phone(raw_phone or "")
    if phone is None:
        return None
    now = utcnow()
    per_phone = db.session.scalar(select(func.count(OneTimeCode.id)).where(
        OneTimeCode.phone == phone, OneTimeCode.created_at >= now - PER_PHONE[1]))
    per_ip = db.session.scalar(select(func.count(OneTimeCode.id)).where(
        OneTimeCode.ip == ip, OneTimeCode.created_at >= now - PER_IP[1])) if ip else 0
    if per_phone >= PER_PHONE[0]:
        raise TooMany(_l("验证码发送过于频繁，请10分钟后再试。"))
    if per_ip >= PER_IP[0]:
        raise TooMany(_l("本网络请求验证码过于频繁，请稍后再试。"))
    person = by_phone(phone)
    officer = person is not None and person.role in OFFICER_ROLES
    code = f"{secrets.randbelow(1_000_000):06d}"
    # Unknown phones get a row too (never sent, never usable) so they count against the limits.
    db.session.add(OneTimeCode(phone=phone, person_id=person.id if officer else None, code_hash=_hash(phone, code),
                               ip=ip, created_at=now, expires_at=now + LIFETIME, attempts=0))
    if not officer:
        db.session.commit()
        return phone
    queue_sms(phone, template=OTP, params={"code": code}, purpose="otp", person=person)
    db.session.commit()
    return phone


def verify_code(raw_phone: str, code: str) -> Person | None:
    """The officer when `code` is the newest live code of this phone; counts every try. Commits."""
    phone = try_normalise_phone(raw_phone or "")
    if phone is None:
        return None
    now = utcnow()
    row = db.session.scalar(select(OneTimeCode).where(OneTimeCode.phone == phone, OneTimeCode.used_at.is_(None))
                            .order_by(OneTimeCode.id.desc()).limit(1).with_for_update())
    if row is None or row.expires_at < now or row.attempts >= MAX_TRIES:
        db.session.rollback()
        return None
    row.attempts += 1
    ok = hmac.compare_digest(row.code_hash, _hash(phone, (code or "").strip()))
    person = None
    if ok and row.person_id is not None:
        row.used_at = now
        person = db.session.get(Person, row.person_id)
        if person is None or not person.active or person.phone != phone:
            person = None
    db.session.commit()
    return person
