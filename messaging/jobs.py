"""The send job (one outbox row through the gateway) and the outbox sweep.

Sending policy (SPEC §9, §10), decided from the gateway's two facts (retryable, ambiguous):
- the row is claimed ('sending', attempts+1, claimed_at) and COMMITTED before the gateway is
  called, so two workers never both send it and a crash leaves evidence; a job sending several
  rows claims each just before its call (in one statement with the previous row's result), so
  only the row at the gateway is ever in doubt. Each of the job's statements commits by itself
  (`_commit_each_statement`), on the one connection the job holds throughout;
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
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, update

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


_CLAIMED = (_OUTBOX.id, _OUTBOX.to_phone, _OUTBOX.body, _OUTBOX.attempts, _OUTBOX.purpose, _OUTBOX.template,
            _OUTBOX.params)


@dataclass(frozen=True)
class _Sent:
    """A send the gateway answered, to be recorded (with the next row's claim when there is one)."""

    sms_id: int
    gateway_sid: str
    provider: str
    at: datetime


@cache
def _sent_stmt():
    """Record a send the gateway answered (parameters: `_sent_params`)."""
    return (update(OutboundSms.__table__).where(_OUTBOX.id == bindparam("sent_id"))
            .values(status=SmsStatus.SENT, gateway_sid=bindparam("sent_sid", type_=_OUTBOX.gateway_sid.type),
                    sent_at=bindparam("sent_when", type_=_OUTBOX.sent_at.type), error_code=None,
                    provider=bindparam("sent_provider", type_=_OUTBOX.provider.type)))


def _sent_params(sent: _Sent) -> dict:
    return {"sent_id": sent.sms_id, "sent_sid": sent.gateway_sid, "sent_when": sent.at, "sent_provider": sent.provider}


@cache
def _claim_stmt(with_sent: bool):
    """Take a pending row (parameters claim_id, claimed_when), with a send to record (`with_sent`,
    PostgreSQL: one statement). Built once: building and keying these statements anew was a
    third of a send's time in cProfile."""
    claim = (update(OutboundSms.__table__).where(_OUTBOX.id == bindparam("claim_id"),
                                                 _OUTBOX.status == SmsStatus.PENDING)
             .values(status=SmsStatus.SENDING, attempts=_OUTBOX.attempts + 1,
                     claimed_at=bindparam("claimed_when", type_=_OUTBOX.claimed_at.type))
             .returning(*_CLAIMED))
    return claim.add_cte(_sent_stmt().cte("sent")) if with_sent else claim


def _commit_each_statement() -> None:
    """Hold one connection for the send job and let each statement commit on its own.

    A send is one conditional UPDATE; as a transaction of the session it cost four round trips
    (the pool's ping at each checkout, BEGIN, the UPDATE, COMMIT) and the session's bookkeeping,
    over 40 % of a worker's samples in bench-intake. Called at the start and after a row's
    rollback; a job's session is new in `flask worker`, and whatever a caller in process left in
    it is committed first, as the first claim always did."""
    db.session.commit()
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def _record(sent: _Sent | None) -> None:
    if sent is not None:
        db.session.execute(_sent_stmt(), _sent_params(sent))


def _claim(sms_id: int, sent: _Sent | None) -> tuple | None:
    """Atomically take the row for this worker: (id, to, body, attempts, purpose, template,
    params), or None if it is gone, sent, failed or taken. Committed before the gateway is called,
    with the previous send's result: on PostgreSQL both are one statement."""
    params = {"claim_id": sms_id, "claimed_when": utcnow()}
    together = sent is not None and db.session.get_bind().dialect.name == "postgresql"
    if together:
        params |= _sent_params(sent)
    else:
        _record(sent)
    row = db.session.execute(_claim_stmt(together), params).first()
    return tuple(row) if row is not None else None


def backoff_seconds(attempts: int) -> float:
    cfg = current_app.config
    return min(cfg["SMS_RETRY_MAX_SECONDS"], cfg["SMS_RETRY_BASE_SECONDS"] * 2 ** max(0, attempts - 1))


@task
def send_sms(outbound_id: int) -> str:
    """Send one outbox row through the gateway (see the module docstring for the policy)."""
    return _send([outbound_id]).most_common(1)[0][0]


@task
def send_sms_batch(outbound_ids: list[int]) -> dict[str, int]:
    """Send several outbox rows (`messaging.outbox.enqueue_batch`), each as `send_sms` does."""
    return dict(_send(outbound_ids))


def _send(outbound_ids: list[int]) -> Counter[str]:
    """Send the rows one by one, each claimed just before its gateway call. The batch's send slots
    are reserved in one round trip, and a row's result is recorded in the statement that claims
    the next row when that row's slot is due at once (when it is not, the result is recorded
    before the wait: a sent row never waits unrecorded, so a worker killed mid-batch leaves at
    most the row at the gateway in doubt, as with one row a job).

    Rows whose slot is too far off (a tight send rate shared by many workers) are left to the
    outbox sweep. A row that fails unexpectedly is left to the sweeps and the others go on."""
    outcomes: Counter[str] = Counter()
    started = time.monotonic()
    due = [started + wait for wait in ratelimit.reserve(len(outbound_ids))]
    give_up_after = current_app.config["SMS_STALE_SENDING_SECONDS"] / 2
    _commit_each_statement()
    sent: _Sent | None = None
    for n, sms_id in enumerate(outbound_ids):
        if max(due[n], time.monotonic()) - started > give_up_after:
            _record(sent)
            outbox.release_batched(outbound_ids[n:])
            outcomes["released"] += len(outbound_ids) - n
            return outcomes
        if due[n] > time.monotonic():
            _record(sent)
            sent = None
            ratelimit.wait_until(due[n])
        try:
            if not db.session().in_transaction():
                _commit_each_statement()  # a row before this one failed and was rolled back
            row = _claim(sms_id, sent)
            sent = None
            if row is None:
                outcomes["skipped"] += 1
                continue
            outcome, sent = _deliver(row)
            outcomes[outcome] += 1
        except Exception:  # noqa: BLE001  (one row's bug must not keep the others' alerts back)
            log.exception("sending SMS %s failed; the outbox sweep retries it", sms_id)
            db.session.rollback()
            sent = None
            outcomes["error"] += 1
    _record(sent)
    return outcomes


def _deliver(row: tuple) -> tuple[str, _Sent | None]:
    """Call the gateway for a claimed row: "sent" with the result still to record, or the
    failure, recorded."""
    sms_id, to_phone, body, attempts, purpose, template, params = row
    named = Recognised(template, dict(params or {})) if template else None
    gateway = get_gateway()
    try:
        result = gateway.send(to_phone, body, named)
    except GatewayError as exc:
        exc.provider = exc.provider or gateway.name
        return _failed_attempt(sms_id, attempts, purpose, exc), None
    return "sent", _Sent(sms_id, result.sid, result.provider or gateway.name, utcnow())


def _failed_attempt(sms_id: int, attempts: int, purpose: str, exc: GatewayError) -> str:
    cfg = current_app.config
    values = {"error_code": exc.code, "last_error": str(exc)[:1000], "provider": exc.provider[:20] or None}
    if exc.ambiguous:
        values["ambiguous"] = True
    if not exc.retryable or attempts >= cfg["SMS_MAX_ATTEMPTS"]:
        db.session.execute(update(OutboundSms.__table__).where(_OUTBOX.id == sms_id)
                           .values(status=SmsStatus.FAILED, **values))
        log.warning("SMS %s failed for good: %s", sms_id, exc)
        return "failed"
    # The retry is due at next_attempt_at and the outbox sweep (any worker's) queues it then: it
    # depends on no one process's scheduler, which a crashed worker's orphan could keep locked.
    delay = backoff_seconds(attempts)
    db.session.execute(update(OutboundSms.__table__).where(_OUTBOX.id == sms_id).values(
        status=SmsStatus.PENDING, next_attempt_at=utcnow() + timedelta(seconds=delay), queued_at=None, **values))
    return "retry"


@periodic("OUTBOX_SWEEP_SECONDS", name="messaging.outbox_sweep")
def outbox_sweep() -> None:
    outbox.relay_sweep()
