"""`GET /healthz`: database and Redis status, 200 when both answer, 503 otherwise."""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from sqlalchemy import text

from core.extensions import csrf, db
from core.queue import redis_ok

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # report, never raise: this endpoint is for monitors
        database = f"error: {type(exc).__name__}"
        db.session.rollback()
    redis_status = "ok" if redis_ok() else "unreachable"
    healthy = database == "ok" and redis_status == "ok"
    body = {"status": "ok" if healthy else "degraded", "database": database, "redis": redis_status}
    return jsonify(body), 200 if healthy else 503


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_blueprint(bp)
