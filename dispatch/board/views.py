"""Board routes."""

from __future__ import annotations

from flask import Blueprint, render_template

from core.auth import staff_required

bp = Blueprint("board", __name__, template_folder="templates", static_folder="static",
               static_url_path="/board-static")


@bp.get("/board")
@staff_required
def board():
    """Placeholder until the incident board lands (issue 5)."""
    return render_template("base.html")
