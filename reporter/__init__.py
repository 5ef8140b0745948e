"""reporter: inbound SMS and the web form, the grammar, reports, incidents, events and review.

views.py (the webhook and the officers' form), api.py (JSON API), intake.py (one SMS end to end,
its command routing through commands.py), flows.py (saving and correcting reports), review.py
(accept/return, closing, the review queue's actions), access.py (who may see and decide what),
service.py (database work), events.py (what dispatch subscribes to), attribution.py and
numbers.py (where a stranger's SMS is scoped).
"""

from __future__ import annotations

from flask import Flask

from core.indicators import format_figures
from messaging.spool import register_replay
from reporter import api, intake, views  # noqa: F401  (api registers its routes)
from reporter.numbers_cli import numbers_cli


def init_app(app: Flask) -> None:
    intake.register_commands(app)
    app.register_blueprint(views.bp)
    app.jinja_env.filters.setdefault("figures", format_figures)
    register_replay(app, "/sms/inbound", intake.replay_spooled)
    app.cli.add_command(numbers_cli)
