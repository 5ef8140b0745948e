"""shelters: see views.py (routes), flows.py (workflows), service.py (database work)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from shelters import models, views  # noqa: F401  (models register their tables)

    app.register_blueprint(views.bp)
