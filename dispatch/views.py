"""dispatch routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dispatch", __name__, template_folder="templates")


@bp.get("/board")
def board():
    """Placeholder until the incident board lands (issue 5)."""
    from flask import render_template

    from core.auth import staff_required

    return staff_required(lambda: render_template("base.html"))()
