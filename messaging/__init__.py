"""messaging: every SMS the service sends or receives that is not domain work.

The outbox (`outbox.queue_sms`, written in the caller's transaction) and its relay, the send
job and its retry policy (`jobs`), the shared send rate (`ratelimit`), the gateway adapters
(`gateway`: console, twilio; `providers`: aliyun, tencent; failover between two), the named
templates every text is (`templates`, `flask sms templates`), the providers' pushes
(`push`: normalised inbound SMS, long SMS joined; `push_views`: their receipts), webhook
plumbing (`webhooks`: signatures, TwiML, store or spool),
the spool of pushes kept while the database is down (`spool`, `flask spool`), delivery receipts
(`receipts`, `POST /sms/status`) and `flask sms send` (`cli`, `sms_client`). Every part above uses it; it
knows nothing of reports, escalations, shelters or drills.
"""

from __future__ import annotations

from flask import Flask

from core.settings import load_settings
from messaging import jobs, outbox, providers, push, push_views, receipts, spool, views  # noqa: F401  (sweeps)
from messaging.cli import sms_cli
from messaging.gateway import backend_names
from messaging.spool_cli import spool_cli
from messaging.templates import load_map, unmapped

# Settings of this part (environment variable = config key) with their defaults.
DEFAULTS: dict[str, tuple[type, object]] = {
    "OUTBOX_SWEEP_SECONDS": (float, 5.0),             # relay sweep interval
    "OUTBOX_GRACE_SECONDS": (float, 5.0),             # a pending row older than this is swept
    "SMS_SEND_BATCH": (int, 20),                      # new rows of one commit per send job (1: a job each)
    "SMS_MAX_ATTEMPTS": (int, 8),
    "SMS_RETRY_BASE_SECONDS": (float, 2.0),           # backoff: base × 2^(attempt-1), capped
    "SMS_RETRY_MAX_SECONDS": (float, 300.0),
    "SMS_STALE_SENDING_SECONDS": (float, 60.0),       # a claim older than this: the worker died
    "SMS_RATE_BURST": (float, 0.0),                   # token-bucket capacity; 0 = rate/10 (≥ 1)
    "SMS_TEMPLATES": (str, ""),                       # JSON file: template name → provider template code
    "SMS_TIMEOUT_SECONDS": (float, 10.0),             # Aliyun / Tencent API calls
    "ALIYUN_ACCESS_KEY_ID": (str, ""),
    "ALIYUN_ACCESS_KEY_SECRET": (str, ""),
    "ALIYUN_SIGN_NAME": (str, ""),                    # the approved 签名, without 【】
    "ALIYUN_SMS_ENDPOINT": (str, "dysmsapi.aliyuncs.com"),
    "ALIYUN_INBOUND_TOKEN": (str, ""),                # the secret in the push URLs; empty: routes answer 404
    "ALIYUN_VARIABLE_MAX_CHARS": (int, 35),           # a notification template variable's default limit
    "TENCENT_SECRET_ID": (str, ""),
    "TENCENT_SECRET_KEY": (str, ""),
    "TENCENT_SMS_APP_ID": (str, ""),                  # SmsSdkAppId
    "TENCENT_SIGN_NAME": (str, ""),
    "TENCENT_SMS_ENDPOINT": (str, "sms.tencentcloudapi.com"),
    "TENCENT_REGION": (str, "ap-guangzhou"),
    "TENCENT_INBOUND_TOKEN": (str, ""),
    "TENCENT_VARIABLE_MAX_CHARS": (int, 6),           # Tencent's default for a notification variable
    "PART_WAIT_SECONDS": (float, 8.0),                # how long a pushed part waits for its continuation
}
TEMPLATE_BACKENDS = ("aliyun", "tencent")


def init_app(app: Flask) -> None:
    load_settings(app, DEFAULTS)
    outbox.install_relay()
    app.register_blueprint(views.bp)
    app.cli.add_command(sms_cli)
    app.cli.add_command(spool_cli)
    spool.register_replay(app, "/sms/status", receipts.apply)
    push_views.init_app(app)
    app.extensions.setdefault("zaibao_ready_checks", []).append(check_templates)


def check_templates(app: Flask) -> None:
    """With a mainland provider the service refuses to start while any template has no code:
    that text could never be sent. Runs once every part has declared its templates."""
    if not set(backend_names(app.config)) & set(TEMPLATE_BACKENDS):
        return
    missing = unmapped(load_map(app.config["SMS_TEMPLATES"]))
    if missing:
        raise RuntimeError(f"SMS_BACKEND={app.config['SMS_BACKEND']} needs a provider template code for every "
                           f"SMS template; SMS_TEMPLATES ({app.config['SMS_TEMPLATES'] or 'unset'}) lacks "
                           f"{len(missing)}: {', '.join(missing)} (`flask sms templates --example` prints a full map)")
