"""The SMS command registry: which part handles which parsed command.

The grammar (pure) tells what a message says; the part that owns the subject answers it.
Reporter registers its own commands (report, nil, correction, help); dispatch registers `ack`
(收到), shelters `shelter_query` and `shelter_update` (避难), each in its `init_app`. So the
intake never imports a part above it, and a new command is one `register` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from core.models import Person
from reporter.grammar import Command
from reporter.models import InboundMessage, Outcome


@dataclass(frozen=True)
class Handled:
    """A handler's answer: the message's outcome, the reply (without the 【演练】 prefix, which
    the intake adds), the report it made or changed, and whether a person must look at it."""

    outcome: Outcome
    reply: str
    report_id: int | None = None
    review: bool = False


# (sender, parsed command, the stored message, the exercise it belongs to or None) → Handled.
# Runs in the intake's transaction and never commits. To refuse, raise `core.refusals.Refusal`:
# its text goes back to the sender; any other exception is a bug (logged, message kept for review).
Handler = Callable[[Person, Command, InboundMessage, int | None], Handled]


def register(app: Flask, kind: str, handler: Handler) -> None:
    """Route parsed commands of `kind` (`Command.kind`) to `handler` in this app."""
    handlers = app.extensions.setdefault("zaibao_sms_commands", {})
    if handlers.get(kind, handler) is not handler:
        raise RuntimeError(f"SMS command {kind!r} is already handled by {handlers[kind].__module__}")
    handlers[kind] = handler


def handler_for(kind: str) -> Handler | None:
    return current_app.extensions.get("zaibao_sms_commands", {}).get(kind)
