"""drills routes: the exercises page (start / end / archive), the evaluation report page and
`GET /api/v1/exercises`. Thin: parse, check scope, call a flow, render."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, Regexp

from core import api
from core.api import ApiError, api_person
from core.auth import staff_required
from core.exercises import Exercise
from core.extensions import db
from core.models import Division
from core.scope import can_access
from drills import evaluation, flows, service
from drills.service import ExerciseError

bp = Blueprint("drills", __name__, template_folder="templates")


class StartForm(FlaskForm):
    division_code = StringField(_l("区域代码"), validators=[DataRequired(),
                                                          Regexp(r"^\d{12}$", message=_l("12 位区划代码"))])
    scenario = SelectField(_l("情景"), choices=[(s, service.SCENARIO_TITLES[s]) for s in service.SCENARIOS])
    name = StringField(_l("名称"), validators=[Length(max=120)])


class ActionForm(FlaskForm):
    """Only the CSRF token: end and archive take no other input."""


def _exercise_in_scope(exercise_id: int) -> Exercise:
    """The exercise when its whole area is in the viewer's scope (its report names every village
    of that area); 404 otherwise, like one that does not exist."""
    exercise = service.get(exercise_id)
    if exercise is None or not can_access(current_user, exercise.division):
        abort(404)
    return exercise


def _may_manage() -> bool:
    return current_user.role in ("county", "city", "province", "admin")


@bp.get("/drills")
@staff_required
def index():
    form = StartForm(division_code=current_user.division_code if current_user.division.level in
                     service.EXERCISE_LEVELS else "")
    exercises = service.for_person(current_user)
    in_scope = {e.id for e in exercises if can_access(current_user, e.division)}
    return render_template("drills/index.html", exercises=exercises, in_scope=in_scope, form=form,
                           may_manage=_may_manage())


@bp.post("/drills/start")
@staff_required
def start():
    form = StartForm()
    if not form.validate_on_submit():
        flash(_("请填写 12 位区划代码并选择情景。"), "error")
        return redirect(url_for("drills.index"))
    division = db.session.get(Division, form.division_code.data)
    if division is None or not can_access(current_user, division):
        flash(_("该区域不存在或不在您的管辖范围内。"), "error")
        return redirect(url_for("drills.index"))
    try:
        exercise = flows.start_exercise(division, form.scenario.data, name=form.name.data,
                                        actor=current_user._get_current_object())
    except (ExerciseError, PermissionError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("drills.index"))
    flash(_("演练 #%(id)s（%(name)s）已开始：信息员以“演练”开头发送短信。", id=exercise.id, name=exercise.name), "info")
    return redirect(url_for("drills.index"))


def _change(exercise_id: int, flow, done: str):
    exercise = _exercise_in_scope(exercise_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        flow(exercise, actor=current_user._get_current_object())
    except (ExerciseError, PermissionError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        flash(done % {"id": exercise.id}, "info")
    return redirect(url_for("drills.index"))


@bp.post("/drills/<int:exercise_id>/end")
@staff_required
def end(exercise_id: int):
    return _change(exercise_id, flows.end_exercise, _("演练 #%(id)s 已结束。"))


@bp.post("/drills/<int:exercise_id>/archive")
@staff_required
def archive(exercise_id: int):
    return _change(exercise_id, flows.archive_exercise, _("演练 #%(id)s 已归档。"))


@bp.get("/drills/<int:exercise_id>/report")
@staff_required
def report(exercise_id: int):
    exercise = _exercise_in_scope(exercise_id)
    return render_template("drills/report.html", back_url=url_for("drills.index"), **evaluation.build(exercise))


@api.bp.get("/exercises")
@api.doc("Exercises (drills) in the caller's scope, newest first (SPEC §8.3)", tag="drills",
         params={"status": "running | ended | archived (optional)"})
def api_exercises():
    person = api_person()
    status = request.args.get("status")
    if status and status not in ("running", "ended", "archived"):
        raise ApiError(400, "status must be running, ended or archived")
    items = [e for e in service.for_person(person, limit=500) if not status or e.status == status]
    return {"items": [service.serialize(e) for e in items]}
