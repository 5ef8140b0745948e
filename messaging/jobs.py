"""The send job (one outbox row through the gateway) and the outbox sweep.

Sending policy (SPEC §9, §10), decided from the gateway's two facts (retryable, ambiguous):
- the row is claimed ('sending', attempts+1, claimed_at) and COMMITTED before the gateway is
  called, so two workers never both send it and a crash leaves evidence;
- success: gateway sid stored, status 'sent';
- permanent error (21211 …): status 'failed' with the error code (shown to the county);
- retryable error (429, 5xx, network): back to 'pending' with its next attempt time
  (exponential backoff), queued by the outbox sweep when due, up to SMS_MAX_ATTEMPTS, then 'failed';
- ambiguous error (read timeout, connection dropped mid-request) or a worker killed during the
  call: the text may have gone out. We retry anyway (a responder missing a disaster SMS is
  worse than reading it twice) and mark the row `ambiguous`: each ambiguous attempt can cause
  at most one duplicate, and only those rows can be duplicated.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from flask import current_app
from sqlalchemy import update

from core.extensions import db
from core.models import utcnow
from core.queue import periodic, task
from messaging import outbox, ratelimit
from messaging.gateway import GatewayError, get_gateway
from messaging.models import OutboundSms, SmsStatus
from messaging.templates import Recognised

log = logging.getLogger("zaibao.messaging.jobs")


# The send path's statements run on the outbox table, not the mapped class: SQLAlchemy's ORM
# UPDATE (synchronising the session's objects, of which a send job holds none) cost more CPU than
# the rest of a send.
_OUTBOX = OutboundSms.__table__.c


def _claim(sms_id: int) -> tuple[str, str, int, str, str | None, dict | None] | None:
    """Atomically take the row for this worker: (to, body, attempts, purpose, template, params), or
    None if it is gone, sent, failed or taken. Committed before the gateway is called."""
    row = db.session.execute(
        update(OutboundSms.__table__)
        .where(_OUTBOX.id == sms_id, _OUTBOX.status == SmsStatus.PENDING)
        .values(status=SmsStatus.SENDING, attempts=_OUTBOX.attempts + 1, claimed_at=utcnow())
        .returning(_OUTBOX.to_phone, _OUTBOX.body, _OUTBOX.attempts, _OUTBOX.purpose,
                   _OUTBOX.template, _OUTBOX.params)).first()
    db.session.commit()
    return tuple(row) if row is not None else None


def backoff_seconds(attempts: int) -> float:
    cfg = current_app.config
    return min(cfg["SMS_RETRY_MAX_SECONDS"], cfg["SMS_RETRY_BASE_SECONDS"] * 2 ** max(0, attempts - 1))


@task
def send_sms(outbound_id: int) -> str:
    """Send one outbox row through the gateway (see the module docstring for the policy)."""
    return _send_one(outbound_id)


@task
def send_sms_batch(outbound_ids: list[int]) -> dict[str, int]:
    """Send several outbox rows, each exactly as `send_sms` does (`messaging.outbox.enqueue_batch`).
    A row that fails unexpectedly is left to the sweeps (stale claim or pending) and the others go on."""
    outcomes: Counter[str] = Counter()
    for outbound_id in outbound_ids:
        try:
            outcomes[_send_one(outbound_id)] += 1
        except Exception:  # noqa: BLE001  (one row's bug must not keep the others' alerts back)
            log.exception("sending SMS %s failed; the outbox sweep retries it", outbound_id)
            db.session.rollback()
            outcomes["error"] += 1
    return dict(outcomes)


def _send_one(outbound_id: int) -> str:
    claimed = _claim(outbound_id)
    if claimed is None:
        return "skipped"
    to_phone, body, attempts, purpose, template, params = claimed
    named = Recognised(template, dict(params or {})) if template else None
    ratelimit.acquire()
    gateway = get_gateway()
    try:
        result = gateway.send(to_phone, body, named)
    except GatewayError as exc:
        exc.provider = exc.provider or gateway.name
        return _failed_attempt(outbound_id, attempts, purpose, exc)
    db.session.execute(update(OutboundSms.__table__).where(_OUTBOX.id == outbound_id).values(
        status=SmsStatus.SENT, gateway_sid=result.sid, sent_at=utcnow(), error_code=None,
        provider=result.provider or gateway.name))
    db.session.commit()
    return "sent"


def _failed_attempt(sms_id: int, attempts: int, purpose: str, exc: GatewayError) -> str:
    cfg = current_app.config
    values = {"error_code": exc.code, "last_error": str(exc)[:1000], "provider": exc.provider[:20] or None}
    if exc.ambiguous:
        values["ambiguous"] = True
    if not exc.retryable or attempts >= cfg["SMS_MAX_ATTEMPTS"]:
        db.session.execute(update(OutboundSms.__table__).where(_OUTBOX.id == sms_id)
                           .values(status=SmsStatus.FAILED, **values))
        db.session.commit()
        log.warning("SMS %s failed for good: %s", sms_id, exc)
        return "failed"
    # The retry is due at next_attempt_at and the outbox sweep (any worker's) queues it then: it
    # depends on no one process's scheduler, which a crashed worker's orphan could keep locked.
    delay = backoff_seconds(attempts)
    db.session.execute(update(OutboundSms.__table__).where(_OUTBOX.id == sms_id).values(
        status=SmsStatus.PENDING, next_attempt_at=utcnow() + timedelta(seconds=delay), queued_at=None, **values))
    db.session.commit()
    return "retry"


@periodic("OUTBOX_SWEEP_SECONDS", name="messaging.outbox_sweep")
def outbox_sweep() -> None:
    outbox.relay_sweep()
