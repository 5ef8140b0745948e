"""Board pages and exports: thin — resolve who is looking at what (scope, exercise), call query or
export code, render. The POST forms are `board.actions`, on the same blueprint (`board.blueprint`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from flask import Response, abort, current_app, jsonify, render_template, request
from sqlalchemy import select

from board import brief, cap, county_report, exports, incidents, query, review, silence, timeline
from board.blueprint import audit_export, bp, current_view
from core import api
from core.auth import staff_required
from core.extensions import db
from core.localtime import local_text
from core.pdf import html_to_pdf_bytes
from drills import service as drill_service
from reporter.access import sees_unattributed
from reporter.models import Event

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@bp.get("/board")
@staff_required
def board():
    view = current_view()
    filters = incidents.Filters.from_args(request.args)
    items, total = incidents.list_incidents(view, filters)
    return render_template(
        "board/board.html", view=view, summary=query.summary(view), rollup=query.township_rollup(view),
        headers=query.indicator_headers(), filters=filters, items=items, total=total,
        per_page=incidents.PER_PAGE, townships=query.townships_in_scope(view), events=query.open_events(view),
        flags=incidents.FLAGS, review_states=incidents.REVIEW_STATES, sorts=incidents.SORTS,
        cursor=incidents.make_cursor(view), tile_url=current_app.config.get("TILE_URL") or "",
        may_set_daily=review.may_handle(view.person), exercises=drill_service.for_person(view.person, limit=20),
        now=view.now)


@bp.get("/board/changes")
@staff_required
def changes():
    """Polled every 3 s by the open board: what is new since `since` (a cursor it was given)."""
    view = current_view()
    return jsonify(incidents.changes(view, request.args.get("since")))


@bp.get("/board/map.json")
@staff_required
def map_data():
    view = current_view()
    data = incidents.map_layer(view)
    data["shelters"] = incidents.shelter_layer(view)
    return jsonify(data)


@bp.get("/board/incidents/<int:incident_id>")
@staff_required
def incident_page(incident_id: int):
    """One incident's whole history, with the actions the viewer may take (printable)."""
    view = current_view()
    history = timeline.incident_history(view, incident_id)
    if history is None:
        abort(404)
    return render_template("board/incident.html", view=view, h=history, now=view.now)


@bp.get("/board/incidents/<int:incident_id>.json")
@staff_required
def incident_json(incident_id: int):
    """What a map popup shows (404 outside the viewer's scope)."""
    data = incidents.incident_popup(current_view(), incident_id)
    if data is None:
        abort(404)
    return jsonify(data)


def _summary_payload(view: query.BoardView) -> dict:
    rollup = query.township_rollup(view)
    rows = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()} for r in rollup["rows"]]
    return {"summary": query.summary(view), "townships": rows, "exercise_id": view.exercise_id}


@bp.get("/board/summary.json")
@staff_required
def summary_json():
    """The summary and roll-up as JSON (for the board's own page)."""
    return jsonify(_summary_payload(current_view()))


@api.bp.get("/board/summary")
@api.doc("Incident board: totals of the active events and the per-township roll-up (scoped to the caller)",
         params={"exercise": "an exercise id: that drill's figures instead of real ones"}, tag="board")
def api_board_summary():
    person = api.api_person()
    try:
        exercise = query.resolve_exercise(person, request.args.get("exercise"))
    except LookupError:
        raise api.ApiError(404, "no such exercise in your scope") from None
    return jsonify(_summary_payload(query.BoardView(person, exercise)))


@bp.get("/board/export/townships.xlsx")
@staff_required
def export_xlsx():
    view = current_view()
    body = exports.rollup_xlsx(view)
    audit_export(view, "rollup_xlsx", view.person.division_code)
    return _download(body, XLSX, view, "townships", "xlsx")


@bp.get("/board/export/townships.csv")
@staff_required
def export_csv():
    view = current_view()
    body = exports.rollup_csv(view)
    audit_export(view, "rollup_csv", view.person.division_code)
    return _download(body, "text/csv", view, "townships", "csv")  # Flask adds "; charset=utf-8" itself


@bp.get("/board/export/incidents.geojson")
@staff_required
def export_geojson():
    view = current_view()
    data = exports.incidents_geojson(view)
    audit_export(view, "incidents_geojson", view.person.division_code, len(data["features"]))
    response = jsonify(data)
    response.mimetype = "application/geo+json"
    response.headers["Content-Disposition"] = f"attachment; filename={_filename(view, 'incidents', 'geojson')}"
    return response


def _event_in_view(view, event_id: int) -> Event:
    """The event if the viewer's scope holds it, else 404 (never 403: its existence is not told)."""
    event = db.session.scalar(select(Event).where(Event.id == event_id, query.events_in_scope_clause(view)))
    if event is None:
        abort(404)
    return event


@bp.get("/board/events/<int:event_id>/cap.xml")
@staff_required
def export_cap(event_id: int):
    view = current_view()
    event = _event_in_view(view, event_id)
    body = cap.event_cap(view, event)
    audit_export(view, "event_cap", event.id)
    response = Response(body, mimetype="application/cap+xml")
    response.headers["Content-Disposition"] = f"attachment; filename=event-{event.id}-cap.xml"
    return response


@bp.get("/board/events/<int:event_id>/initial-report.xlsx")
@staff_required
def export_county_report(event_id: int):
    """The county's 初报 table of one event, scoped like the board (a township gets its own part)."""
    view = current_view()
    event = _event_in_view(view, event_id)
    body = county_report.county_report_xlsx(view, event)
    audit_export(view, "county_report_xlsx", event.id)
    return _download(body, XLSX, view, f"county-report-event{event.id}", "xlsx")


def _filename(view: query.BoardView, stem: str, ext: str) -> str:
    drill = f"-exercise{view.exercise_id}" if view.exercise else ""
    return f"{stem}-{view.person.division_code}{drill}-{local_text(view.now, '%Y%m%d-%H%M')}.{ext}"


def _download(body: bytes, mimetype: str, view: query.BoardView, stem: str, ext: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f"attachment; filename={_filename(view, stem, ext)}"
    return response


@bp.get("/board/brief")
@staff_required
def daily_brief():
    """Today's brief as one printable page."""
    view = current_view()
    return render_template("board/brief.html", view=view, b=brief.build(view), headers=query.indicator_headers())


@bp.get("/board/brief.pdf")
@staff_required
def daily_brief_pdf():
    view = current_view()
    html = render_template("board/brief.html", view=view, b=brief.build(view), headers=query.indicator_headers(),
                           inline_css=(Path(bp.static_folder) / "board.css").read_text(encoding="utf-8"))
    body = html_to_pdf_bytes(html)
    audit_export(view, "daily_brief_pdf", view.person.division_code)
    return _download(body, "application/pdf", view, "brief", "pdf")


@bp.get("/board/silence")
@staff_required
def silence_panel():
    """The villages that owe today's report and are silent, with whom to call."""
    view = current_view()
    sort = request.args.get("sort") if request.args.get("sort") in silence.SORTS else "township"
    return render_template("board/silence.html", view=view, villages=silence.silent_villages(view, sort), sort=sort,
                           sorts=silence.SORTS)


@bp.get("/board/silence.xlsx")
@staff_required
def silence_xlsx():
    view = current_view()
    villages = silence.silent_villages(view)
    body = silence.call_list_xlsx(view, villages)
    audit_export(view, "silence_xlsx", view.person.division_code, len(villages))
    return _download(body, XLSX, view, "silent-villages", "xlsx")


@bp.get("/board/review")
@staff_required
def review_queue():
    view = current_view()
    return render_template("board/review.html", view=view, messages=review.pending_messages(view),
                           villages=review.villages_in_scope(view), can_handle=review.may_handle(view.person),
                           sees_unplaced=sees_unattributed(view.person))


