"""The board's blueprint and what every board page shares: who is looking at what, the banner
of a drill, the audit entry of an export. Views and actions both build on it (neither imports the other).
"""

from __future__ import annotations

from flask import Blueprint, abort, g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from board import labels, query
from core.audit import record
from core.extensions import db
from core.indicators import INDICATORS
from core.web import add_nav
from dispatch.flows import may_acknowledge

bp = Blueprint("board", __name__, template_folder="templates", static_folder="static",
               static_url_path="/board-static")


@bp.record_once
def _nav(state) -> None:
    add_nav(state.app, _l("灾情看板"), "/board", order=10)
    add_nav(state.app, _l("待核短信"), "/board/review", order=12)


def current_view() -> query.BoardView:
    """The viewer and the exercise chosen with `?exercise=` (404 when not theirs to see)."""
    try:
        exercise = query.resolve_exercise(current_user, request.values.get("exercise"))
    except LookupError:
        abort(404)
    g.board_view = query.BoardView(current_user._get_current_object(), exercise)
    return g.board_view


@bp.context_processor
def _board_context() -> dict:
    view = g.get("board_view")
    exercise = view.exercise if view is not None else None
    return {"exercise_banner": f"{exercise.name} (#{exercise.id})" if exercise else None,
            "xargs": {"exercise": exercise.id} if exercise else {},
            "INDICATORS": INDICATORS, "L": labels.Resolved(),
            # an acknowledge button only where pressing it would work (dispatch's rule)
            "may_ack": (lambda esc: may_acknowledge(view.person, esc)) if view is not None else (lambda esc: False)}


def audit_export(view: query.BoardView, what: str, entity_id, count: int | None = None) -> None:
    """Exports leave the building: record who took what (same transaction, then commit)."""
    record("export", what, entity_id, after={"format": what, "rows": count, "division": view.person.division_code},
           actor=view.person, exercise_id=view.exercise_id)
    db.session.commit()


