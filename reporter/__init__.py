"""reporter: see views.py (routes), api.py (JSON API), flows.py (workflows), service.py (database work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from core.indicators import format_figures
    from reporter import api, cli, models, spool, views  # noqa: F401  (tables, sweeps)

    app.register_blueprint(views.bp)
    app.jinja_env.filters.setdefault("figures", format_figures)
    app.cli.add_command(cli.spool_cli)
