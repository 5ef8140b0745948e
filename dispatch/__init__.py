"""dispatch: escalations (SPEC §5) — rules and policy, deadlines, acknowledgements, silence (E5).

It reacts to the reporter's events (`reporter.events`: a report saved, returned, an incident or
event closed) and answers the `收到` SMS command; its texts go out through messaging's outbox.
"""

from __future__ import annotations

from flask import Flask

from core.settings import load_settings
from dispatch import express, flows, jobs, views  # noqa: F401  (jobs: the sweeps)
from reporter import commands, events

# Per-deployment settings of this part (environment variable = config key), with SPEC §5 defaults.
# Durations are floats so tests and drills can run deadlines in seconds (0.05 min = 3 s).
DEFAULTS: dict[str, tuple[type, object]] = {
    "ESCALATION_ACK_MINUTES": (float, 30.0),          # E1–E4 acknowledgement deadline
    "ESCALATION_REPEATS": (int, 1),                   # unacknowledged notices repeated this often
                                                      # inside the window before E4 climbs
    "E2_DEATHS_MISSING": (int, 1),
    "E3_DEATHS_MISSING": (int, 10),
    "E3_RELOCATED": (int, 10_000),
    "E3_HOUSES_COLLAPSED": (int, 1_000),
    "ESCALATION_SWEEP_SECONDS": (float, 1.0),         # repeats and deadlines due: one is never
                                                      # later than this (plus the pass itself)
    "SILENCE_DEADLINE": (str, "12:00"),               # E5: local time by which a report is owed
    "SILENCE_STEP_MINUTES": (float, 30.0),            # officer A → officer B → township
    "SILENCE_SWEEP_SECONDS": (float, 60.0),
}


def init_app(app: Flask) -> None:
    load_settings(app, DEFAULTS)
    events.report_saved.connect(flows.on_report_saved)
    events.reports_filed.connect(flows.on_reports_filed)
    events.report_returned.connect(flows.on_report_returned)
    events.incident_closed.connect(flows.on_incident_closed)
    events.event_closed.connect(flows.on_event_closed)
    commands.register(app, "ack", flows.handle_ack)
    express.init_app(app)
    app.register_blueprint(views.bp)
