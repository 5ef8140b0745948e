"""Acknowledgement deadlines in RQ: an escalation's deadline job is scheduled when it commits.

`deadline-E<id>` runs on queue "deadlines" at the deadline (the worker runs `--with-scheduler`),
and `repeat-E<id>-<n>` at its n-th repeat (ESCALATION_REPEATS); the deadline sweep
(`dispatch.jobs`) is the backstop when Redis lost them or was down.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus

from core.handoff import hand_off_after_commit
from core.queue import job_id, queue
from dispatch.models import Escalation, EscalationStatus

DEADLINE_JOB = "dispatch.jobs.deadline"
REPEAT_JOB = "dispatch.jobs.repeat"


def _deadline_job(q: Queue, escalation_id: int) -> Job:
    return q.create_job(DEADLINE_JOB, args=(escalation_id,), job_id=job_id(f"deadline-E{escalation_id}"),
                        result_ttl=0, failure_ttl=7 * 86400, status=JobStatus.SCHEDULED)


def _repeat_job(q: Queue, escalation_id: int, number: int) -> Job:
    return q.create_job(REPEAT_JOB, args=(escalation_id, number), job_id=job_id(f"repeat-E{escalation_id}-{number}"),
                        result_ttl=0, failure_ttl=7 * 86400, status=JobStatus.SCHEDULED)


def _run_at(at: datetime) -> datetime:
    return at + timedelta(seconds=1)  # RQ rounds down to the second


def schedule_deadline(escalation_id: int, at: datetime) -> bool:
    """`deadline-E<id>` at the deadline; False when it is already scheduled."""
    q = queue("deadlines")
    try:
        q.schedule_job(_deadline_job(q, escalation_id), _run_at(at), unique=True)
    except DuplicateJobError:
        return False
    return True


def schedule_repeat(escalation_id: int, number: int, at: datetime) -> bool:
    """`repeat-E<id>-<number>` at the repeat's time; False when it is already scheduled."""
    q = queue("deadlines")
    try:
        q.schedule_job(_repeat_job(q, escalation_id, number), _run_at(at), unique=True)
    except DuplicateJobError:
        return False
    return True


def _pick(esc: Escalation) -> tuple[int, datetime, datetime | None, int] | None:
    if esc.deadline_at is None or esc.status != EscalationStatus.OPEN:
        return None
    return esc.id, esc.deadline_at, esc.repeat_at, esc.repeats_sent or 0


def _hand_over(deadlines: list[tuple[int, datetime, datetime | None, int]]) -> None:
    """The jobs of a commit's new escalations, in one Redis round trip. Their ids are new, so no
    job can be scheduled under them yet: RQ's uniqueness check (a round trip per job: 3,000 of
    them for a batch of 1,500 reports) is kept for the sweep's and the repeats' scheduling."""
    q = queue("deadlines")
    pipe = q.connection.pipeline()
    for escalation_id, at, repeat_at, sent in deadlines:
        q.schedule_job(_deadline_job(q, escalation_id), _run_at(at), pipeline=pipe)
        if repeat_at is not None:
            q.schedule_job(_repeat_job(q, escalation_id, sent + 1), _run_at(repeat_at), pipeline=pipe)
    pipe.execute()


def install_relay() -> None:
    hand_off_after_commit("deadlines", Escalation, _pick, _hand_over)
