"""dispatch: escalations, outbound SMS (outbox, relay, jobs) and the incident board."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from dispatch import models, views  # noqa: F401  (models register their tables)
    from dispatch.board import views as board_views

    app.register_blueprint(views.bp)
    app.register_blueprint(board_views.bp)
