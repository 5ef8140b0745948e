"""A small in-process event bus: a lower part announces what happened, a higher part reacts.

Reporter must cause dispatch's work (escalations after a report, settling them when an incident
closes) without importing dispatch, which sits above it. So reporter declares signals and sends
them inside its transaction; dispatch connects its receivers when the app is created. Receivers
run synchronously, in the sender's transaction: what they write commits or rolls back with it,
and an exception in one propagates to the sender like any other error.

Built on blinker (a Flask dependency); receivers are module-level functions, so connecting them
again for a second app is harmless.
"""

from __future__ import annotations

from blinker import NamedSignal, Namespace

_signals = Namespace()


def signal(name: str, doc: str) -> NamedSignal:
    """Declare an event (`core.bus.signal("report_saved", "…")`); one object per name."""
    return _signals.signal(name, doc=doc)
