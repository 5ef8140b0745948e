"""Board actions: POST forms (CSRF checked by Flask-WTF) that call the owning part's flows.

Each handler first loads the record and checks scope itself (404 when the record is outside
the viewer's division, so ids cannot be probed), then calls the flow, which checks again,
changes state and writes the audit entry. Nothing is audited here: the flows do it.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect, request
from flask_babel import gettext as _

from board.blueprint import bp, current_view
from board.review import can_see_message
from core.auth import staff_required
from core.extensions import db
from core.scope import can_access
from dispatch import flows as dispatch_flows
from dispatch.models import Escalation
from reporter import review
from reporter.access import may_decide_event, may_see_event
from reporter.models import Event, InboundMessage, Incident, Report

MAX_REASON = 500


def _back() -> str:
    """Return to the page the form was on (same-site board paths only)."""
    target = request.form.get("next", "")
    if target.startswith("/board") and not target.startswith("//"):
        return target
    return "/board"


def _text(name: str, required: bool = False) -> str | None:
    value = (request.form.get(name) or "").strip()
    if len(value) > MAX_REASON:
        flash(_("说明太长（最多 %(n)s 字）。", n=MAX_REASON), "error")
        return None
    if required and not value:
        flash(_("请填写原因。"), "error")
        return None
    return value or ""


def _run(action: Callable[[], object], done: str):
    """Call a flow; its PermissionError is a 403, its ValueError a message to the user."""
    try:
        action()
        db.session.commit()
    except PermissionError:
        db.session.rollback()
        abort(403)
    except ValueError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(_back())
    flash(done, "ok")
    return redirect(_back())


def _get_or_404(model, ident: int, visible: Callable[[object], bool]):
    obj = db.session.get(model, ident)
    if obj is None or not visible(obj):
        abort(404)
    return obj


@bp.post("/board/escalations/<int:escalation_id>/ack")
@staff_required
def acknowledge(escalation_id: int):
    view = current_view()
    esc = _get_or_404(Escalation, escalation_id, lambda e: can_access(view.person, e.village_code)
                      or can_access(view.person, e.division_code))
    def ack() -> None:
        if dispatch_flows.acknowledge(view.person, esc, "web") or esc.acknowledged_by_id == view.person.id:
            return
        # A stale page: someone else acknowledged it, or its incident was closed, meanwhile.
        if esc.acknowledged_at is not None:
            raise ValueError(_("E%(id)s 已由%(name)s确认，无需重复。", id=esc.id,
                               name=esc.acknowledged_by.name if esc.acknowledged_by else ""))
        raise ValueError(_("E%(id)s 已关闭，无需确认。", id=esc.id))

    return _run(ack, _("已确认 E%(id)s。", id=esc.id))


@bp.post("/board/reports/<int:report_id>/review")
@staff_required
def review_report(report_id: int):
    view = current_view()
    report = _get_or_404(Report, report_id, lambda r: can_access(view.person, r.village_code))
    action = request.form.get("action")
    if action not in ("accept", "return"):
        flash(_("未知操作。"), "error")
        return redirect(_back())
    reason = _text("reason", required=(action == "return"))
    if reason is None:
        return redirect(_back())
    done = _("已采用 R%(id)s。", id=report.id) if action == "accept" else _("已退回 R%(id)s。", id=report.id)
    return _run(lambda: review.review_report(view.person, report, action, reason or None), done)


@bp.post("/board/incidents/<int:incident_id>/close")
@staff_required
def close_incident(incident_id: int):
    view = current_view()
    incident = _get_or_404(Incident, incident_id, lambda i: can_access(view.person, i.village_code))
    note = _text("note")
    if note is None:
        return redirect(_back())
    return _run(lambda: review.close_incident(view.person, incident, note or None), _("灾情已结束。"))


def _county_event(view, event_id: int) -> Event:
    """An event the viewer may decide on: a county office's (SPEC §4.1); a township sees the
    event on its board but may not set daily reporting or end it (403)."""
    event = _get_or_404(Event, event_id, lambda e: may_see_event(view.person, e))
    if not may_decide_event(view.person, event):
        abort(403)
    return event


@bp.post("/board/events/<int:event_id>/daily")
@staff_required
def daily_report(event_id: int):
    view = current_view()
    event = _county_event(view, event_id)
    on = request.form.get("on") == "1"
    done = _("已要求每日报告（含零报告）。") if on else _("已取消每日报告。")
    return _run(lambda: review.set_daily_report(view.person, event, on), done)


@bp.post("/board/events/<int:event_id>/county-report")
@staff_required
def county_report(event_id: int):
    view = current_view()
    event = _county_event(view, event_id)
    return _run(lambda: review.mark_county_report_sent(view.person, event), _("已标记县级初报已报送。"))


@bp.post("/board/events/<int:event_id>/close")
@staff_required
def close_event(event_id: int):
    view = current_view()
    event = _county_event(view, event_id)
    note = _text("note")
    if note is None:
        return redirect(_back())
    return _run(lambda: review.close_event(view.person, event, note or None), _("灾害过程已结束。"))


@bp.post("/board/messages/<int:message_id>/convert")
@staff_required
def convert_message(message_id: int):
    view = current_view()
    message = _get_or_404(InboundMessage, message_id, lambda m: can_see_message(view, m))
    village = (request.form.get("village_code") or "").strip()
    text = (request.form.get("text") or "").strip()
    if not village or not text:
        flash(_("请选择村并填写短信内容。"), "error")
        return redirect(_back())
    if not can_access(view.person, village):
        abort(403)
    return _run(lambda: review.convert_message(view.person, message, village_code=village, text=text[:1600]),
                _("已转为报告。"))


@bp.post("/board/messages/<int:message_id>/dismiss")
@staff_required
def dismiss_message(message_id: int):
    view = current_view()
    message = _get_or_404(InboundMessage, message_id, lambda m: can_see_message(view, m))
    note = _text("note", required=True)
    if note is None:
        return redirect(_back())
    return _run(lambda: review.dismiss_message(view.person, message, note), _("已忽略该短信（仍保留）。"))
