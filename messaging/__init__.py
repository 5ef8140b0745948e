"""messaging: every SMS the service sends or receives that is not domain work.

The outbox (`outbox.queue_sms`, written in the caller's transaction) and its relay, the send
job and its retry policy (`jobs`), the shared send rate (`ratelimit`), the gateway adapters
(`gateway`: console, twilio), webhook plumbing (`webhooks`: signatures, TwiML, store or spool),
the spool of pushes kept while the database is down (`spool`, `flask spool`), delivery receipts
(`receipts`, `POST /sms/status`) and `flask sms send` (`cli`, `sms_client`). Every part above uses it; it
knows nothing of reports, escalations, shelters or drills.
"""

from __future__ import annotations

from flask import Flask

from core.settings import load_settings
from messaging import jobs, outbox, receipts, spool, views  # noqa: F401  (jobs, spool: their sweeps)
from messaging.cli import sms_cli
from messaging.spool_cli import spool_cli

# Settings of this part (environment variable = config key) with their defaults.
DEFAULTS: dict[str, tuple[type, object]] = {
    "OUTBOX_SWEEP_SECONDS": (float, 5.0),             # relay sweep interval
    "OUTBOX_GRACE_SECONDS": (float, 5.0),             # a pending row older than this is swept
    "SMS_MAX_ATTEMPTS": (int, 8),
    "SMS_RETRY_BASE_SECONDS": (float, 2.0),           # backoff: base × 2^(attempt-1), capped
    "SMS_RETRY_MAX_SECONDS": (float, 300.0),
    "SMS_STALE_SENDING_SECONDS": (float, 60.0),       # a claim older than this: the worker died
    "SMS_RATE_BURST": (float, 0.0),                   # token-bucket capacity; 0 = rate/10 (≥ 1)
}


def init_app(app: Flask) -> None:
    load_settings(app, DEFAULTS)
    outbox.install_relay()
    app.register_blueprint(views.bp)
    app.cli.add_command(sms_cli)
    app.cli.add_command(spool_cli)
    spool.register_replay(app, "/sms/status", receipts.apply)
