"""The intake processor: files SMS reports the webhook stored and answered, in batches.

The webhook (`reporter.intake`) does only what its reply needs: it stores the message and the
planned report (kind, flags, id) and answers. Everything else — the incident, the event,
dispatch's escalations and their SMS, the audit entry — is done here, many messages to one
transaction, by `flask worker` or by `flask intake run` (several may run, on several machines).

A batch takes the villages of the oldest waiting messages whose division row nobody holds
(`FOR NO KEY UPDATE SKIP LOCKED`: a village is filed by one transaction at a time, and a
processor never waits for a request), then every waiting message of those villages in order, so
a follow-up never overtakes its initial report. The batch is filed together, each step for all
its messages at once (`reporter.flows.file_reports`), in a savepoint; if that fails, each message
is filed in a savepoint of its own: one that fails is rolled back alone and retried in a later
batch; after `MAX_ATTEMPTS` it is kept for review with the reason. The batch commits once; the
outbox hands its SMS to Redis after the commit.

A batch costs ~15 statements whatever its size, so while reports keep coming a processor that
has caught up lets them gather for INTAKE_GATHER_SECONDS before its next batch
(`gather_pause`); the first report after a quiet spell is filed at once.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from flask import Flask, current_app
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from core.extensions import db
from core.models import Division
from core.txmemo import forget
from reporter import flows, service, wakeups
from reporter.models import InboundMessage, Outcome, Report, ReviewState

log = logging.getLogger("zaibao.intake")
MAX_ATTEMPTS = 3
_failures: dict[int, int] = {}  # message id → failed attempts, in this process


def _villages_to_take(limit: int) -> list[str]:
    oldest = (select(Report.village_code).join(InboundMessage, InboundMessage.report_id == Report.id)
              .where(service.IS_PENDING).order_by(InboundMessage.id).limit(limit))
    if db.session.get_bind().dialect.name == "sqlite":
        # Take SQLite's one write lock before reading what to file: a transaction that read first
        # and then writes after another writer committed fails at once ("database is locked").
        # An idle processor only looks, and takes no lock.
        if db.session.scalar(oldest.limit(1)) is None:
            return []
        db.session.rollback()
        db.session.execute(update(InboundMessage).where(InboundMessage.id == -1).values(outcome=Outcome.PENDING))
    if db.session.get_bind().dialect.name != "postgresql":
        return sorted(set(db.session.scalars(oldest)))  # SQLite: the batch holds the one write lock
    return list(db.session.scalars(select(Division.code).where(Division.code.in_(oldest))
                                   .order_by(Division.code).with_for_update(key_share=True, skip_locked=True)))


def process_batch(limit: int | None = None) -> int:
    """File up to about `limit` waiting messages in one transaction; returns how many were taken."""
    limit = limit or current_app.config["INTAKE_BATCH"]
    villages = _villages_to_take(limit)
    if not villages:
        db.session.rollback()
        return 0
    # Village-code order is also the order the county rows (new events) are locked in. The
    # messages come with their reports and authors in the same query (held here: the session
    # keeps only weak references).
    held = db.session.execute(
        select(InboundMessage, Report).join(Report, Report.id == InboundMessage.report_id)
        .options(joinedload(Report.author))
        .where(service.IS_PENDING, Report.village_code.in_(villages))
        .order_by(Report.village_code, InboundMessage.id).with_for_update(of=InboundMessage)).all()
    messages = [message for message, _report in held]
    try:
        with db.session.begin_nested():
            flows.place_messages(messages)  # the whole batch together: a few statements per step
        for message in messages:
            _failures.pop(message.id, None)
    except OperationalError:
        raise  # the database, not a message: the whole batch is retried
    except Exception:  # noqa: BLE001  (one bad message: find it, file the others)
        log.warning("filing a batch of %d SMS reports failed; filing them one by one", len(messages),
                    exc_info=True)
        forget()  # what the savepoint created (a new event) is gone
        for message in messages:
            _file_one(message)
    del held
    db.session.commit()
    return len(messages)


def _file_one(message: InboundMessage) -> None:
    message_id = message.id
    try:
        with db.session.begin_nested():
            flows.place_messages([message])
        _failures.pop(message_id, None)
    except OperationalError:
        raise  # the database, not this message: the whole batch is retried
    except Exception as exc:  # noqa: BLE001  (a bug in one message must not hold up the rest)
        forget()  # what the savepoint created (a new event) is gone
        attempts = _failures.get(message_id, 0) + 1
        _failures[message_id] = attempts
        log.exception("filing SMS report %s failed (attempt %d)", message_id, attempts)
        if attempts >= MAX_ATTEMPTS:
            _keep_for_review(message_id, exc)


def _keep_for_review(message_id: int, exc: Exception) -> None:
    """Given up: the message waits for county staff with the reason; its report stays as planned."""
    message = db.session.get(InboundMessage, message_id)
    message.outcome = Outcome.UNPARSED
    message.review_status = ReviewState.PENDING
    message.review_note = f"自动处理出错({type(exc).__name__}: {str(exc)[:120]})，见日志"
    _failures.pop(message_id, None)


def _yield_cpu_to_webhooks(niceness: int) -> None:
    """Lower this thread's CPU priority: in a burst on a shared machine the webhooks, which answer
    officers and store what they sent, come first; filing takes the CPU they leave."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)  # Linux: this thread
    except (AttributeError, OSError):
        pass


def gather_pause(taken: int, limit: int, batch_seconds: float, gather_seconds: float) -> float:
    """How long to let reports gather before the next batch, after one that took `taken` messages
    of at most about `limit` in `batch_seconds`. None taken: the processor waits for a wake-up
    instead. A full batch: more are waiting, go on. A part-full one: the processor has caught
    up with a flow of reports; the next batch starts `gather_seconds` after this one started."""
    if taken == 0 or taken >= limit:
        return 0.0
    return max(0.0, gather_seconds - batch_seconds)


def run_forever(app: Flask, stop: threading.Event) -> None:
    """The processor loop: batches while there is work, else wait for a wake-up or the poll."""
    _yield_cpu_to_webhooks(app.config["INTAKE_NICE"])
    listener = wakeups.Listener()
    limit, gather = app.config["INTAKE_BATCH"], app.config["INTAKE_GATHER_SECONDS"]
    try:
        while not stop.is_set():
            taken = 0
            started = time.monotonic()
            with app.app_context():
                try:
                    taken = process_batch(limit)
                except OperationalError as exc:
                    log.warning("intake processor: database unavailable (%s); retrying in 1 s", exc)
                    db.session.rollback()
                    stop.wait(1)
                except Exception:  # noqa: BLE001  (the loop must outlive any one batch)
                    log.exception("intake batch failed; retrying")
                    db.session.rollback()
                    stop.wait(1)
                finally:
                    db.session.remove()
                if not taken and not stop.is_set():
                    listener.wait(app.config["INTAKE_POLL_SECONDS"], stop)
                elif pause := gather_pause(taken, limit, time.monotonic() - started, gather):
                    stop.wait(pause)
    finally:
        listener.close()


def start(app: Flask, stop: threading.Event, count: int = 1) -> list[threading.Thread]:
    """Processor threads inside `flask worker` (each with its own database connection)."""
    threads = [threading.Thread(target=run_forever, args=(app, stop), daemon=True, name=f"zaibao-intake-{n}")
               for n in range(count)]
    for thread in threads:
        thread.start()
    return threads


def drain(max_seconds: float = 30.0) -> int:
    """File everything waiting now (tests, `flask intake run --once`); returns how many."""
    total, deadline = 0, time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        taken = process_batch()
        if not taken:
            break
        total += taken
    return total
