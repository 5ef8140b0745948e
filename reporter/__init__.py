"""reporter: inbound SMS and the web form, the grammar, reports, incidents, events and review.

views.py (the webhook and the officers' form), api.py (JSON API), intake.py (one SMS end to end,
its command routing through commands.py), flows.py (saving and correcting reports), review.py
(accept/return, closing, the review queue's actions), access.py (who may see and decide what),
service.py and saving.py (database work), processing.py (the intake processor), events.py (what
dispatch subscribes to), attribution.py and numbers.py (where a stranger's SMS is scoped).
"""

from __future__ import annotations

from flask import Flask

from core.indicators import format_figures
from core.queue import background_loop
from core.settings import load_settings
from messaging.spool import register_replay

# api (its routes) and texts (its SMS templates) are imported for what importing them registers.
from reporter import api, cli, express_reports, intake, processing, push, texts, views  # noqa: F401
from reporter.numbers_cli import numbers_cli


def _flag(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEFAULTS: dict[str, tuple[type, object]] = {
    # SMS reports are filed by the intake processor after the webhook answers (reporter.processing);
    # off: the webhook files them itself, as the web form does.
    "INTAKE_DEFERRED": (_flag, True),
    # Officers' reports and nil reports and responders' acknowledgements stored and handled with
    # SQLAlchemy Core in three statements (PostgreSQL; reporter.express); off: the general path.
    "INTAKE_EXPRESS": (_flag, True),
    "INTAKE_BATCH": (int, 200),             # messages per processor transaction (about)
    # While reports keep coming, a processor that has caught up starts its next batch this long
    # after the last (reporter.processing.gather_pause): fewer, larger batches; alerts this much later.
    "INTAKE_GATHER_SECONDS": (float, 0.2),
    "INTAKE_POLL_SECONDS": (float, 0.5),    # an idle processor looks again this often (and on a wake-up)
    "INTAKE_PROCESSORS": (int, 1),          # processor threads in each `flask worker`
    "INTAKE_NICE": (int, 10),               # processors' CPU niceness: webhooks first on a shared machine
}


def _start_processors(app: Flask, stop) -> None:
    processing.start(app, stop, app.config["INTAKE_PROCESSORS"])


def init_app(app: Flask) -> None:
    load_settings(app, DEFAULTS)
    background_loop(app, _start_processors)
    app.cli.add_command(cli.intake)
    intake.register_commands(app)
    express_reports.init_app(app)
    app.register_blueprint(views.bp)
    app.jinja_env.filters.setdefault("figures", format_figures)
    register_replay(app, "/sms/inbound", intake.replay_spooled)
    push.init_app(app)  # the Aliyun and Tencent pushes
    app.cli.add_command(numbers_cli)
