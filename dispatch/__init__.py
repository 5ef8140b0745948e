"""dispatch: escalations, outbound SMS (outbox, relay, jobs) and the incident board."""

from __future__ import annotations

import os

from flask import Flask

# Per-deployment settings of this part (environment variable = config key), with SPEC §5 defaults.
# Durations are floats so tests and drills can run deadlines in seconds (0.05 min = 3 s).
DEFAULTS: dict[str, tuple[type, object]] = {
    "ESCALATION_ACK_MINUTES": (float, 30.0),          # E1–E4 acknowledgement deadline
    "E2_DEATHS_MISSING": (int, 1),
    "E3_DEATHS_MISSING": (int, 10),
    "E3_RELOCATED": (int, 10_000),
    "E3_HOUSES_COLLAPSED": (int, 1_000),
    "ESCALATION_SWEEP_SECONDS": (float, 30.0),        # overdue-deadline sweep interval
    "OUTBOX_SWEEP_SECONDS": (float, 5.0),             # relay sweep interval
    "OUTBOX_GRACE_SECONDS": (float, 5.0),             # a pending row older than this is swept
    "SMS_MAX_ATTEMPTS": (int, 8),
    "SMS_RETRY_BASE_SECONDS": (float, 2.0),           # backoff: base × 2^(attempt-1), capped
    "SMS_RETRY_MAX_SECONDS": (float, 300.0),
    "SMS_STALE_SENDING_SECONDS": (float, 60.0),       # a claim older than this: the worker died
    "SMS_RATE_BURST": (float, 0.0),                   # token-bucket capacity; 0 = rate/10 (≥ 1)
    "SILENCE_DEADLINE": (str, "12:00"),               # E5: local time by which a report is owed
    "SILENCE_STEP_MINUTES": (float, 30.0),            # officer A → officer B → township
    "SILENCE_SWEEP_SECONDS": (float, 60.0),
}


def _load_settings(app: Flask) -> None:
    for key, (kind, default) in DEFAULTS.items():
        if key in app.config:
            continue
        raw = os.environ.get(key)
        app.config[key] = kind(raw) if raw not in (None, "") else default


def init_app(app: Flask) -> None:
    from dispatch import jobs, models, outbox, views  # noqa: F401  (models register tables, jobs sweeps)
    from dispatch.board import views as board_views

    _load_settings(app)
    outbox.install_relay()
    app.register_blueprint(views.bp)
    app.register_blueprint(board_views.bp)
