"""Shelter pages (staff, scoped): list, view with history, create, edit, state update, map.

Every page that names a shelter checks `can_access(current_user, shelter.division)` and
answers 404 otherwise, so a URL from another township reveals nothing.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import or_, select

from core import audit
from core.auth import staff_required
from core.exercises import exercise_clause, watchable_exercise
from core.extensions import db
from core.models import Boundary, Division
from core.scope import can_access, scope_clause
from reporter.models import CaseStatus, Event
from shelters import importer, rules, search, service
from shelters.forms import ShelterForm, StateForm
from shelters.models import CLASS_LABELS, FACILITY_LABELS, LEVEL_LABELS, STATUS_LABELS, TYPE_LABELS, Shelter
from shelters.rules import ShelterStatus

bp = Blueprint("shelters", __name__, url_prefix="/shelters", template_folder="templates",
               static_folder="static", static_url_path="/static")
PAGE_SIZE = 100
LABELS = {"level": LEVEL_LABELS, "class": CLASS_LABELS, "type": TYPE_LABELS, "status": STATUS_LABELS,
          "facility": FACILITY_LABELS}


CHANNEL_NAMES = {"sms": _l("短信"), "web": _l("网页"), "api": _l("接口"), "import": _l("导入")}


@bp.app_context_processor
def _labels():
    return {"shelter_labels": LABELS, "channel_names": CHANNEL_NAMES}


def banner(exercise_id: int | None) -> dict:
    """The base template's drill banner when a page shows an exercise's data."""
    return {"exercise_banner": f"#{exercise_id}"} if exercise_id else {}


def chosen_exercise() -> int | None:
    """`?exercise=<id>`: an exercise in the viewer's reach, else 404 (real data by default)."""
    raw = request.args.get("exercise", "")
    if not raw:
        return None
    exercise = watchable_exercise(current_user, int(raw)) if raw.isdigit() else None
    if exercise is None:
        abort(404)
    return exercise.id


def shelter_in_scope(shelter_id: int) -> Shelter:
    shelter = db.session.get(Shelter, shelter_id)
    if shelter is None or not can_access(current_user, shelter.division):
        abort(404)
    return shelter


def townships_in_scope() -> list[Division]:
    division = current_user.division
    if division.level in ("township", "village"):
        return [division] if division.level == "township" else []
    field = getattr(Division, f"{division.level}_code") if division.level != "province" else Division.province_code
    return list(db.session.scalars(select(Division).where(field == division.code, Division.level == "township")
                                   .order_by(Division.code).limit(2000)))


def open_events(exercise_id: int | None) -> list:
    """Open disaster events the viewer may plan relocation for (links to /shelters/plan/<id>)."""
    person = current_user
    return list(db.session.scalars(
        select(Event).where(Event.status == CaseStatus.OPEN, exercise_clause(Event.exercise_id, exercise_id),
                            or_(Event.county_code.in_(person.division.lineage_codes()),
                                scope_clause(person, Event.county_code)))
        .order_by(Event.id.desc()).limit(20)))


@bp.get("/")
@staff_required
def index():
    exercise_id = chosen_exercise()
    args = request.args
    min_free = args.get("free", "")
    page = max(1, int(args.get("page", "1")) if args.get("page", "1").isdigit() else 1)
    shown, total = service.filtered_page(
        current_user, page, PAGE_SIZE, status=args.get("status") or None, township=args.get("township") or None,
        shelter_class=args.get("class") or None, type_=args.get("type") or None, exercise_id=exercise_id,
        min_free=int(min_free) if min_free.isdigit() else None)
    events = open_events(exercise_id)
    pages = max(1, -(-total // PAGE_SIZE))
    shown_pages = sorted({1, pages, *range(max(1, page - 5), min(pages, page + 5) + 1)})
    page_urls = [(p, url_for(".index", **{**args.to_dict(), "page": p})) for p in shown_pages]
    return render_template("shelters/list.html", rows=shown, total=total, page=page, page_urls=page_urls,
                           townships=townships_in_scope(), exercise_id=exercise_id, args=args, events=events,
                           **banner(exercise_id))


@bp.get("/<int:shelter_id>")
@staff_required
def view(shelter_id: int):
    shelter = shelter_in_scope(shelter_id)
    exercise_id = chosen_exercise()
    state = service.state_of(shelter, exercise_id)
    form = StateForm()
    return render_template("shelters/view.html", shelter=shelter, state=state, form=form,
                           history=service.history(shelter, exercise_id), exercise_id=exercise_id,
                           **banner(exercise_id))


@bp.post("/<int:shelter_id>/state")
@staff_required
def update_state(shelter_id: int):
    shelter = shelter_in_scope(shelter_id)
    exercise_id = chosen_exercise()
    form = StateForm()
    if not form.validate_on_submit():
        flash(_("请填写有效的入住人数或状态。"), "error")
        return redirect(url_for(".view", shelter_id=shelter.id, exercise=exercise_id), 303)
    if form.occupancy.data is None and not form.status.data:
        flash(_("请填写入住人数或选择状态。"), "error")
        return redirect(url_for(".view", shelter_id=shelter.id, exercise=exercise_id), 303)
    if form.occupancy.data is not None:
        problem = rules.occupancy_problem(form.occupancy.data, shelter.capacity)
        if problem:
            flash(problem, "error")
            return redirect(url_for(".view", shelter_id=shelter.id, exercise=exercise_id), 303)
    state = service.change_state(shelter, person=current_user, channel="web", exercise_id=exercise_id,
                                 occupancy=form.occupancy.data, status=form.status.data or None,
                                 note=form.note.data or None)
    db.session.commit()
    flash(_("已更新：入住%(o)s/容量%(c)s，状态%(s)s。", o=state.occupancy, c=shelter.capacity,
            s=STATUS_LABELS[state.status]), "ok")
    return redirect(url_for(".view", shelter_id=shelter.id, exercise=exercise_id), 303)


def _save(form: ShelterForm, shelter: Shelter | None):
    """Validate with the import rules and write; returns the shelter or None (errors flashed)."""
    if not can_access(current_user, form.division_code.data):
        form.division_code.errors = [_("不在您的管辖范围内。")]
        return None
    try:
        row = importer.check_record(form.record(), importer._Context(preload=False), form.datum.data,
                                    current=shelter)
    except ValueError as exc:
        flash(str(exc), "error")
        return None
    other = service.by_code(row["code"])
    if other is not None and other is not shelter:
        form.code.errors = [_("编号已被其他避难场所使用。")]
        return None
    row.pop("occupancy")
    row.pop("status")
    before = None
    if shelter is None:
        shelter = Shelter(**row, occupancy=0, status=ShelterStatus.STANDBY)
        db.session.add(shelter)
        moved = True
    else:
        before = {k: getattr(shelter, k) for k in row}
        moved = (shelter.lon, shelter.lat, shelter.division_code, shelter.capacity) != (
            row["lon"], row["lat"], row["division_code"], row["capacity"])
        capacity_changed = shelter.capacity != row["capacity"]
        for key, value in row.items():
            setattr(shelter, key, value)
        if capacity_changed:  # a new capacity may fill or free the shelter
            shelter.status = rules.status_after_occupancy(shelter.status, shelter.occupancy, shelter.capacity)
    db.session.flush()
    if moved:
        search.bump_index()
    audit.record("shelter.create" if before is None else "shelter.edit", "shelter", shelter.code,
                 before=before, after=row, actor=current_user)
    db.session.commit()
    return shelter


@bp.route("/new", methods=["GET", "POST"])
@staff_required
def create():
    form = ShelterForm()
    form.set_divisions(current_user)
    if form.validate_on_submit():
        shelter = _save(form, None)
        if shelter is not None:
            flash(_("已登记避难场所 %(code)s。", code=shelter.code), "ok")
            return redirect(url_for(".view", shelter_id=shelter.id), 303)
    return render_template("shelters/form.html", form=form, shelter=None), 400 if request.method == "POST" else 200


@bp.route("/<int:shelter_id>/edit", methods=["GET", "POST"])
@staff_required
def edit(shelter_id: int):
    shelter = shelter_in_scope(shelter_id)
    form = ShelterForm(obj=shelter)
    form.set_divisions(current_user)
    if request.method == "GET":
        form.datum.data = "wgs84"
        form.facilities.data = list(shelter.facilities or [])
    if form.validate_on_submit() and _save(form, shelter) is not None:
        flash(_("已保存。"), "ok")
        return redirect(url_for(".view", shelter_id=shelter.id), 303)
    return render_template("shelters/form.html", form=form, shelter=shelter), 400 if request.method == "POST" else 200


@bp.get("/map")
@staff_required
def map_page():
    exercise_id = chosen_exercise()
    return render_template("shelters/map.html", exercise_id=exercise_id,
                           tile_url=current_app.config.get("TILE_URL", ""),
                           status_labels={k: str(v) for k, v in STATUS_LABELS.items()}, **banner(exercise_id))


@bp.get("/outlines.json")
@staff_required
def outlines():
    """County outlines in the viewer's scope (or the outline of the county they sit in)."""
    division = current_user.division
    codes = {division.county_code} if division.level in ("township", "village") else None
    stmt = select(Boundary)
    if codes is not None:
        stmt = stmt.where(Boundary.division_code.in_(codes))
    else:
        stmt = stmt.where(scope_clause(current_user, Boundary.division_code))
    return jsonify({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": b.geometry, "properties": {"division_code": b.division_code}}
        for b in db.session.scalars(stmt.limit(300))]})
