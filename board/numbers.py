"""The inbound numbers page (`/board/numbers`): which numbers (or 扩展码) bring strangers' SMS to
which division of the viewer's scope, and, for county offices and above, assigning and removing
them. The rule and the audit entry are the reporter's (`reporter.numbers`); this page is thin.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from board.blueprint import bp, current_view
from board.review import may_handle
from core.auth import staff_required
from core.extensions import db
from core.models import Division
from core.scope import scope_clause
from reporter import numbers


@bp.get("/board/numbers")
@staff_required
def inbound_numbers():
    view = current_view()
    divisions = list(db.session.execute(
        select(Division.code, Division.name).where(Division.level.in_(("province", "city", "county", "township")),
                                                   scope_clause(view.person, Division.code))
        .order_by(Division.code).limit(2000)))
    return render_template("board/numbers.html", view=view, rows=numbers.numbers_in_scope(view.person),
                           divisions=divisions, can_manage=may_handle(view.person))


def _manage(action) -> object:
    view = current_view()
    if not may_handle(view.person):
        abort(403)
    try:
        action(view.person)
        db.session.commit()
        flash(_("已保存。"), "ok")
    except numbers.NumberProblem as exc:
        db.session.rollback()
        flash(str(exc), "error")
    return redirect(url_for("board.inbound_numbers"))


@bp.post("/board/numbers")
@staff_required
def assign_number():
    return _manage(lambda person: numbers.assign(request.form.get("number", ""), request.form.get("division_code", ""),
                                                 actor=person, note=request.form.get("note")))


@bp.post("/board/numbers/remove")
@staff_required
def remove_number():
    return _manage(lambda person: numbers.remove(request.form.get("number", ""), actor=person))
