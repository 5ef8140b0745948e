"""drills: exercises (应急演练), the simulated-drill generator and the evaluation report.

models.py (exercises, participants, synthetic records), service.py (look-ups; the
`running_exercise_for` others call), flows.py (start/end/archive), scenario.py (the pure plan),
roster.py + simulator.py (playing the plan through the real webhook), metrics.py (pure
figures), evaluation.py + charts.py (the report), views.py, cli.py.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import lazy_gettext as _l


def init_app(app: Flask) -> None:
    from core.web import add_nav
    from drills import cli, models, views  # noqa: F401  (models register their tables)

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.drill_cli)
    add_nav(app, _l("演练"), "/drills", order=80)

    zone = ZoneInfo(app.config.get("TIMEZONE", "Asia/Shanghai"))

    @app.template_filter("drill_time")
    def drill_time(value: datetime | None) -> str:
        """A stored UTC time shown in the deployment's zone."""
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""
