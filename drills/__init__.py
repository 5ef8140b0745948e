"""drills: exercises (应急演练), the simulated-drill generator and the evaluation report.

models.py (participants, synthetic records; the exercise itself is `core.exercises`),
service.py (look-ups), flows.py (start/end/archive), scenario.py (the pure plan),
roster.py + simulator.py (playing the plan through the real webhook), metrics.py (pure
figures), evaluation.py + charts.py (the report), views.py, cli.py.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.web import add_nav
from drills import cli, views


def init_app(app: Flask) -> None:
    app.register_blueprint(views.bp)
    app.cli.add_command(cli.drill_cli)
    add_nav(app, _l("演练"), "/drills", order=80)
