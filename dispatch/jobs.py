"""Dispatch's sweeps: what is due from the database, and the E5 reminders.

Repeats and acknowledgement deadlines are due from the database (`dispatch.repeats`,
`dispatch.overdue`): every ESCALATION_SWEEP_SECONDS one pass sends the repeats due and climbs
the deadlines passed, set-based, in a thread of its own so a long E5 sweep never holds a deadline up.
"""

from __future__ import annotations

from core.queue import periodic
from dispatch.overdue import sweep_overdue
from dispatch.repeats import sweep_repeats
from dispatch.silence import sweep_silence


@periodic("ESCALATION_SWEEP_SECONDS", name="dispatch.due", alone=True)
def due() -> None:
    sweep_repeats()  # first: a repeat whose deadline passes meanwhile climbs instead
    sweep_overdue()


@periodic("SILENCE_SWEEP_SECONDS", name="dispatch.silence_sweep")
def silence_sweep() -> None:
    sweep_silence()
