"""ops: what the people who run the service watch — `GET /metrics` (SPEC §11.1).

A top part beside the board: it reads every part below and owns no rule of theirs.
"""

from __future__ import annotations

from flask import Flask

from ops import metrics


def init_app(app: Flask) -> None:
    app.register_blueprint(metrics.bp)
