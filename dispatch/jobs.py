"""Dispatch's jobs: one escalation's acknowledgement deadline, and the sweeps behind them.

Deadlines are scheduled in RQ when their escalation commits (`dispatch.deadlines`); the
deadline sweep catches any deadline or repeat the scheduler missed, the silence sweep sends E5 reminders.
"""

from __future__ import annotations

import time

from core.extensions import db
from core.models import utcnow
from core.queue import periodic, task
from dispatch.flows import escalate_if_overdue, sweep_overdue
from dispatch.models import Escalation
from dispatch.repeats import repeat_if_due, sweep_repeats
from dispatch.silence import sweep_silence


@task
def deadline(escalation_id: int) -> str:
    """The acknowledgement deadline of one escalation: E4 if it is still open (once only)."""
    # RQ's scheduler keeps whole seconds and may start the job up to a second early: wait for
    # the real deadline (the sweep is the backstop for anything later).
    esc = db.session.get(Escalation, escalation_id)
    early = (esc.deadline_at - utcnow()).total_seconds() if esc is not None and esc.deadline_at else 0
    db.session.rollback()
    if 0 < early <= 5:
        time.sleep(early + 0.01)
    child = escalate_if_overdue(escalation_id)
    return f"escalated to E{child.id}" if child else "nothing to do"


@task
def repeat(escalation_id: int, number: int) -> str:
    """The `number`-th repeat of an unacknowledged escalation (ESCALATION_REPEATS), once only."""
    esc = db.session.get(Escalation, escalation_id)
    early = (esc.repeat_at - utcnow()).total_seconds() if esc is not None and esc.repeat_at else 0
    db.session.rollback()
    if 0 < early <= 5:  # the scheduler's whole seconds, as for the deadline
        time.sleep(early + 0.01)
    return f"repeated E{escalation_id} ({number})" if repeat_if_due(escalation_id) else "nothing to do"


@periodic("ESCALATION_SWEEP_SECONDS", name="dispatch.deadline_sweep")
def deadline_sweep() -> None:
    sweep_repeats()
    sweep_overdue()


@periodic("SILENCE_SWEEP_SECONDS", name="dispatch.silence_sweep")
def silence_sweep() -> None:
    sweep_silence()
