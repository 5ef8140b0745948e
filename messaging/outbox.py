"""The transactional outbox: SMS rows written in the caller's transaction, relayed after commit.

Other parts call only `queue_sms`. Everything else here is the relay:

- `install_relay()` declares the hand-off (`core.handoff.hand_off_after_commit`): rows created in a
  transaction are handed to RQ right after it commits; Redis being down never breaks that commit.
- `relay_sweep()` (a `core.queue.periodic` sweep, see messaging.jobs) enqueues pending rows
  older than a few seconds and retries whose time has come, and recovers rows a dead worker left
  in 'sending': a Redis outage, a lost job or a crashed worker delays a notification but never
  loses it, and no retry waits on one process's scheduler.

RQ job ids are deterministic per attempt (`sms-out-<id>`, then `sms-out-<id>-a<n>`, each after the
deployment's namespace, `core.queue.job_id`) and
enqueued with `unique=True`, so the hook, the sweep and a second worker cannot queue the same
attempt twice; the job itself claims the row with a conditional UPDATE before sending.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import redis
from flask import current_app
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from sqlalchemy import and_, case, or_, select, tuple_, update

from core.exercises import drill_text
from core.extensions import db
from core.handoff import hand_off_after_commit
from core.models import Person, utcnow
from core.queue import job_id, key, queue, redis_conn
from messaging.models import OutboundSms, SmsStatus
from messaging.templates import Template, recognise

log = logging.getLogger("zaibao.outbox")
SEND_JOB = "messaging.jobs.send_sms"


def queue_sms(to_phone: str, body: str | None = None, *, purpose: str, person: Person | None = None,
              report_id: int | None = None, escalation_id: int | None = None,
              exercise_id: int | None = None, template: Template | None = None,
              params: dict | None = None) -> OutboundSms:
    """Add an SMS to the outbox in the current transaction; it is sent after commit.

    The text is `body`, or `template` rendered with `params`. Either way the row records which
    named template it is and its variables (`messaging.templates.recognise`), which is what a
    mainland provider sends. During an exercise the body is prefixed with 【演练】 (SPEC §7).
    """
    if template is not None:
        body = template.render(**(params or {}))
    text = drill_text(body or "", exercise_id)
    named = recognise(text)
    sms = OutboundSms(to_phone=to_phone, body=text, purpose=purpose,
                      person_id=person.id if person else None, report_id=report_id,
                      escalation_id=escalation_id, exercise_id=exercise_id, status=SmsStatus.PENDING,
                      attempts=0, ambiguous=False, template=named.name if named else None,
                      params=named.params if named else None)
    if named is None:
        log.warning("SMS text matches no template (a mainland provider will refuse it): %s", text[:80])
    db.session.add(sms)
    return sms


# ---- enqueueing ---------------------------------------------------------------------------

def send_job_id(sms_id: int, attempts: int) -> str:
    """One job id per attempt: the first is the SPEC's `sms-out-<id>` (after the namespace)."""
    return job_id(f"sms-out-{sms_id}" if attempts == 0 else f"sms-out-{sms_id}-a{attempts}")


# A report's first alert to the responders it must reach ("alert") has a queue of its own, which
# workers take first: on a flood morning it never waits behind the texts that follow up on older
# escalations (updates, repeats, E4s: purpose "escalation"). Texts sent by the thousand (E5
# reminders to every silent village at noon) wait on the queue workers take last.
URGENT_PURPOSES = frozenset({"alert"})
BULK_PURPOSES = frozenset({"reminder"})


def send_queue(purpose: str | None) -> str:
    if purpose in URGENT_PURPOSES:
        return "alerts"
    return "bulk" if purpose in BULK_PURPOSES else "sms"


def enqueue_send(sms_id: int, attempts: int = 0, purpose: str | None = None) -> bool:
    """Queue the send job for this attempt; False when that attempt is already queued."""
    try:
        queue(send_queue(purpose)).enqueue(SEND_JOB, sms_id, job_id=send_job_id(sms_id, attempts), unique=True,
                                           result_ttl=0, failure_ttl=7 * 86400)
    except DuplicateJobError:
        return False
    return True


BATCH_JOB = "messaging.jobs.send_sms_batch"
# A row's mark names its batch job for the sweep (`_in_batch_jobs`); it lasts long enough for any
# backlog, and is only a safety net: the job's own state in RQ says whether it may still send.
BATCHED_MARK_SECONDS = 3600


def batched_key(sms_id: int) -> str:
    """Marks a row whose first attempt waits in a batch job (the job's id), for the sweep."""
    return key("sms-batched", str(sms_id))


def enqueue_batch(sms_ids: list[int], purpose: str | None) -> None:
    """One job for several new rows (a commit of the intake processor): RQ's own bookkeeping
    costs a worker about 10 ms a job, more than a send. Small batches (SMS_SEND_BATCH) keep a
    burst spread over every worker; each row is still claimed alone, so a row another job sent
    is skipped. Each row is marked in Redis with the job's id, so the sweep leaves it to the job
    while the job waits or runs (`_in_batch_jobs`)."""
    batch_job = job_id(f"sms-batch-{sms_ids[0]}-{len(sms_ids)}")
    queue(send_queue(purpose)).enqueue(BATCH_JOB, sms_ids, job_id=batch_job, unique=True, result_ttl=0,
                                       failure_ttl=7 * 86400)
    pipe = redis_conn().pipeline(transaction=False)
    for sms_id in sms_ids:
        pipe.set(batched_key(sms_id), batch_job, ex=BATCHED_MARK_SECONDS)
    pipe.execute()


def release_batched(sms_ids: list[int]) -> None:
    """Rows a batch job leaves unsent (their send slots were too far off): the next sweep queues
    each on its own instead of waiting for their marks to expire."""
    redis_conn().delete(*[batched_key(sms_id) for sms_id in sms_ids])


def _pick(sms: OutboundSms) -> tuple[int, str] | None:
    return (sms.id, sms.purpose) if sms.id is not None and sms.status == SmsStatus.PENDING else None


def _hand_over(rows: list[tuple[int, str]]) -> None:
    size = max(1, int(current_app.config["SMS_SEND_BATCH"]))
    by_queue: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        by_queue.setdefault(send_queue(row[1]), []).append(row)
    for queued in by_queue.values():
        for start in range(0, len(queued), size):
            chunk = queued[start:start + size]
            if len(chunk) == 1:
                enqueue_send(chunk[0][0], purpose=chunk[0][1])
                continue
            try:
                enqueue_batch([sms_id for sms_id, _p in chunk], chunk[0][1])
            except DuplicateJobError:
                continue


def install_relay() -> None:
    """Outbox rows a transaction wrote are queued right after it commits (`core.handoff`)."""
    hand_off_after_commit("outbox", OutboundSms, _pick, _hand_over)


# ---- the sweep ----------------------------------------------------------------------------

def recover_stale_claims(now: datetime | None = None) -> list[int]:
    """Rows left in 'sending' by a worker that died mid-call: the SMS may or may not have gone.

    Policy (SPEC §9): a responder must get the notification, so such a row is sent again,
    marked `ambiguous`; the recipient may therefore see that one text twice. Rows whose
    gateway answer was stored are never sent again.
    """
    now = now or utcnow()
    cfg = current_app.config
    stale_before = now - timedelta(seconds=cfg["SMS_STALE_SENDING_SECONDS"])
    rows = db.session.execute(select(OutboundSms.id, OutboundSms.attempts, OutboundSms.claimed_at,
                                     OutboundSms.purpose).where(
        OutboundSms.status == SmsStatus.SENDING, OutboundSms.claimed_at < stale_before).limit(500)).all()
    recovered = []
    for sms_id, attempts, claimed_at, purpose in rows:
        give_up = attempts >= cfg["SMS_MAX_ATTEMPTS"]
        values = {"ambiguous": True, "last_error": "worker stopped during the gateway call; outcome unknown"}
        values.update({"status": SmsStatus.FAILED} if give_up else
                      {"status": SmsStatus.PENDING, "next_attempt_at": now, "queued_at": None})
        result = db.session.execute(update(OutboundSms).where(
            OutboundSms.id == sms_id, OutboundSms.status == SmsStatus.SENDING,
            OutboundSms.claimed_at == claimed_at).values(**values))
        if result.rowcount == 1 and not give_up:
            recovered.append((sms_id, attempts, purpose))
    db.session.commit()
    try:
        for sms_id, attempts, purpose in recovered:
            enqueue_send(sms_id, attempts, purpose=purpose)
    except redis.exceptions.RedisError as exc:  # the main sweep query picks them up later
        log.warning("could not re-queue recovered SMS: %s", exc)
    return [sms_id for sms_id, _a, _p in recovered]


def _jobs_waiting(rows) -> set[tuple[int, int]]:
    """The (sms id, attempt) whose send job is already in Redis, in one pipelined round trip.

    Rows older than the grace period are usually queued already (the after-commit relay did
    it) but the workers are behind: in the province drill the sweep spent a sixth of a
    worker's time re-creating those jobs only for RQ to refuse them as duplicates."""
    pipe = redis_conn().pipeline(transaction=False)
    for sms_id, attempts, _purpose in rows:
        pipe.exists(Job.key_for(send_job_id(sms_id, attempts)))
    return {(sms_id, attempts) for (sms_id, attempts, _p), hit in zip(rows, pipe.execute(), strict=True) if hit}


def _in_batch_jobs(rows, now: datetime) -> set[int]:
    """First attempts a batch job may still send (`enqueue_batch`'s marks): its job is waiting in
    its queue, however long the backlog, or a worker started it less than SMS_STALE_SENDING_SECONDS
    ago. A job that is gone, failed, or started long ago (its worker died) leaves its rows to the
    sweep. (A one-minute mark instead sent 25,000 E4s and repeats of the province drill twice to
    the workers: their batch jobs waited longer than that behind the backlog, and the sweep queued
    each row again, on its own, onto the same backlog.)"""
    firsts = [sms_id for sms_id, attempts, _p in rows if attempts == 0]
    if not firsts:
        return set()
    conn = redis_conn()
    marks = dict(zip(firsts, conn.mget([batched_key(sms_id) for sms_id in firsts]), strict=True))
    job_ids = sorted({mark.decode() for mark in marks.values() if mark is not None})
    jobs = dict(zip(job_ids, Job.fetch_many(job_ids, connection=conn), strict=True)) if job_ids else {}
    stale = now - timedelta(seconds=current_app.config["SMS_STALE_SENDING_SECONDS"])
    live = {job_id_ for job_id_, job in jobs.items() if job is not None and _may_still_send(job, stale)}
    return {sms_id for sms_id, mark in marks.items() if mark is not None and mark.decode() in live}


def _may_still_send(job: Job, stale: datetime) -> bool:
    status = job.get_status(refresh=False)
    if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
        return True
    return status == JobStatus.STARTED and job.started_at is not None and job.started_at > stale  # RQ: aware UTC


def relay_sweep(now: datetime | None = None, limit: int = 2000) -> int:
    """Enqueue what the after-commit hook could not (Redis down, process died). Idempotent."""
    now = now or utcnow()
    cfg = current_app.config
    recover_stale_claims(now)
    grace = now - timedelta(seconds=cfg["OUTBOX_GRACE_SECONDS"])
    requeue_after = now - timedelta(seconds=max(120.0, 4 * cfg["OUTBOX_GRACE_SECONDS"]))
    rows = db.session.execute(
        select(OutboundSms.id, OutboundSms.attempts, OutboundSms.purpose).where(
            OutboundSms.status == SmsStatus.PENDING,
            # a new row once the after-commit hand-off had its chance; a retry as soon as it is due
            or_(and_(OutboundSms.next_attempt_at.is_(None), OutboundSms.created_at < grace),
                OutboundSms.next_attempt_at <= now),
            or_(OutboundSms.queued_at.is_(None), OutboundSms.queued_at < requeue_after))
        # in the queues' order: after an outage a worker may start on the first job at once
        .order_by(case((OutboundSms.purpose.in_(URGENT_PURPOSES), 0), (OutboundSms.purpose.in_(BULK_PURPOSES), 2),
                       else_=1), OutboundSms.id)
        .limit(limit)).all()
    handed: list[tuple[int, int]] = []
    try:
        # Left to their batch job while it may still run, but marked queued like the others, so
        # the next sweeps look past them (a backlog of batched rows would otherwise fill every
        # sweep's window and hide the rows nobody queued); once the job cannot run (gone, failed,
        # its worker died) a later sweep queues each on its own.
        batched = _in_batch_jobs(rows, now)
        handed = [(row[0], row[1]) for row in rows if row[0] in batched]
        rows = [row for row in rows if row[0] not in batched]
        waiting = _jobs_waiting(rows)
        for sms_id, attempts, purpose in rows:
            if (sms_id, attempts) not in waiting:
                enqueue_send(sms_id, attempts, purpose=purpose)
            handed.append((sms_id, attempts))  # queued now, or that attempt was already queued
    except redis.exceptions.RedisError as exc:
        log.warning("outbox sweep: Redis unavailable (%s); %d rows wait", exc, len(rows) - len(handed))
    mark_queued(handed, now)
    db.session.commit()
    return len(handed)


def mark_queued(handed: list[tuple[int, int]], now: datetime) -> None:
    """Mark the (row, attempt) the sweep handed to RQ, so the next sweeps look past them. A row
    whose attempt ended since the sweep read it (a batch job tried it, the gateway said 429, and
    it is pending again with its retry due) is not the row the sweep handed: marking it would
    hide its retry from the sweeps for the requeue interval."""
    if handed:
        db.session.execute(update(OutboundSms).where(
            tuple_(OutboundSms.id, OutboundSms.attempts).in_(handed), OutboundSms.status == SmsStatus.PENDING)
            .values(queued_at=now))
