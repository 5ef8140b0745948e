"""Dispatch workflows. INTERFACE placeholders (owned by dispatch, issue 4): the signatures are
the contract other parts call; the bodies are replaced by the real implementation."""

from __future__ import annotations

from core.models import Person


def after_report_saved(report, incident, previous: dict | None) -> list:
    """Open the escalations the rules call for (E1–E3), with their SMS in the outbox, in the
    caller's transaction. `previous` holds the incident's figures before this report (None for
    a new incident). Returns the escalations opened."""
    return []


def acknowledge_by_sms(person: Person, escalation_id: int | None, exercise_id: int | None) -> str:
    """Handle `收到 [E17]` from a responder; returns the reply text."""
    return "暂无待确认的通知。"


def acknowledge(person: Person, escalation, channel: str):
    """Acknowledge an escalation (API, board). Raises PermissionError when not allowed."""
    raise NotImplementedError


def report_returned(report, reason: str) -> None:
    """E6: tell the author their report was returned, with the reason (outbox SMS)."""
