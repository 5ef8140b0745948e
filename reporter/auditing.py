"""Audit entries for new reports, chained just after the webhook's commit instead of inside it.

Measured (bench-intake): the audit chain takes one PostgreSQL lock from the entry until commit,
and a commit waits for the WAL fsync, so with the entry inside the webhook's transaction every
report in the province queued behind one fsync at a time. A new report is instead committed
with `audit_pending = True` (same transaction: nothing can be lost) and `chain_pending`, a
worker sweep every 2 s, writes the "report.create" entries in batches under a single lock.
Any later change to a report (correction, review) first chains its creation entry, so the
chain stays in order for that report and before/after are right.
"""

from __future__ import annotations

from sqlalchemy import select, update

from core import audit
from core.extensions import db
from core.queue import periodic
from reporter.models import Report
from reporter.service import report_snapshot


def creation_entry(report: Report) -> bool:
    """Write the report's creation entry now (in the caller's transaction), once; True if written."""
    claimed = db.session.execute(update(Report).where(Report.id == report.id, Report.audit_pending.is_(True))
                                 .values(audit_pending=False).execution_options(synchronize_session=False))
    if claimed.rowcount != 1:
        return False
    after = report_snapshot(report) | {"channel": report.channel, "received_at": report.received_at,
                                       "message_id": report.message_id}
    audit.record("report.nil" if report.kind == "nil" else "report.create", "report", report.public_id,
                 after=after, actor=report.author if report.author is not None else "sms",
                 exercise_id=report.exercise_id)
    report.audit_pending = False
    return True


def ensure_audited(report: Report) -> None:
    if report.audit_pending:
        creation_entry(report)


def chain_pending(limit: int = 500) -> int:
    """Chain the creation entries of reports still waiting, oldest first; commits; returns how many."""
    # Claim the batch up front (PostgreSQL: rows another sweeper holds are skipped), so a sweeper
    # never waits for a row lock while it holds the audit chain's lock: no deadlock between two.
    batch = list(db.session.scalars(select(Report).where(Report.audit_pending.is_(True)).order_by(Report.id)
                                    .limit(limit).with_for_update(skip_locked=True, of=Report)))
    done = 0
    for report in batch:
        done += creation_entry(report)
    db.session.commit()
    return done


@periodic(2, name="reporter.audit_reports")
def audit_sweep() -> None:
    while chain_pending() == 500:
        pass
