"""reporter routes: the inbound SMS webhook and the officers' web form. Thin: parse, call a flow, render.

The JSON API routes are in `reporter.api`.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlalchemy import select

from core.auth import failed_attempt, form_phone_key
from core.extensions import csrf, db, limiter
from core.indicators import HAZARDS, INDICATORS, REPORT_KINDS
from core.labels import HAZARD_LABELS, INDICATOR_LABELS, KIND_LABELS, UNIT_LABELS
from core.roles import OFFICER_ROLES
from messaging.webhooks import MAX_WEBHOOK_BYTES, signed, store_or_spool, twiml, webhook_form
from reporter import flows, otp
from reporter.intake import receive_sms
from reporter.models import Report
from reporter.service import ReportRefused

bp = Blueprint("reporter", __name__, template_folder="templates", static_folder="static",
               static_url_path="/reporter/static")
log = logging.getLogger("zaibao.reporter")
SPOOLED_REPLY = "已收到，稍后处理。"


@bp.post("/sms/inbound")
@csrf.exempt
def sms_inbound():
    """Twilio webhook: store first, answer one TwiML reply; spooled when the database is down or hung."""
    if (request.content_length or 0) > MAX_WEBHOOK_BYTES:
        return Response("request too large", status=413, mimetype="text/plain")
    signed_form = webhook_form()
    if not signed(signed_form):
        return Response("invalid signature", status=403, mimetype="text/plain")
    form = signed_form.to_dict()
    reply = store_or_spool(lambda: receive_sms(form), form)
    if reply is None:
        reply = SPOOLED_REPLY
    return twiml(reply)


# ---- the officers' web form ----------------------------------------------------------------

def _officer():
    if current_user.is_authenticated and current_user.role in OFFICER_ROLES:
        return current_user._get_current_object()
    return None


def _code_limit() -> str:
    return current_app.config.get("OTP_VERIFY_RATE_LIMIT", "30 per minute")


@bp.get("/report")
def report_form():
    person = _officer()
    if person is None:
        return render_template("reporter/report_login.html", phone=request.args.get("phone", ""), step="phone")
    return _render_form(person)


def _render_form(person, values: dict | None = None, status_code: int = 200):
    recent = list(db.session.scalars(select(Report).where(Report.author_id == person.id, Report.exercise_id.is_(None))
                                     .order_by(Report.id.desc()).limit(10)))
    # The national names in the page's language (core.labels; Chinese: exactly the national names).
    indicators = {k: (str(INDICATOR_LABELS[k]), str(UNIT_LABELS.get(unit, unit)), is_count)
                  for k, (_name, unit, is_count) in INDICATORS.items()}
    return render_template("reporter/report_form.html", person=person, indicators=indicators,
                           hazards={k: str(HAZARD_LABELS.get(k, name)) for k, name in HAZARDS.items()},
                           kinds={k: str(KIND_LABELS.get(k, name)) for k, name in REPORT_KINDS.items()},
                           recent=recent, values=values or {}), status_code


def _phone_limit() -> str:
    return current_app.config["OTP_PHONE_RATE_LIMIT"]


@bp.post("/report/code")
@limiter.limit(_code_limit)
@limiter.limit(_phone_limit, key_func=form_phone_key)
def report_code():
    phone = request.form.get("phone", "")[:40]
    try:
        e164 = otp.request_code(phone, request.remote_addr)
    except otp.TooMany as exc:
        flash(str(exc), "error")
        return render_template("reporter/report_login.html", phone=phone, step="phone"), 429
    if e164 is None:
        flash(_("请输入正确的手机号。"), "error")
        return render_template("reporter/report_login.html", phone=phone, step="phone"), 400
    flash(_("如该号码已登记为灾害信息员，验证码已发送，10分钟内有效。"), "info")
    return render_template("reporter/report_login.html", phone=e164, step="code")


@bp.post("/report/verify")
@limiter.limit(_code_limit)
@limiter.limit(_phone_limit, key_func=form_phone_key, deduct_when=failed_attempt)
def report_verify():
    phone = request.form.get("phone", "")[:40]
    person = otp.verify_code(phone, request.form.get("code", "")[:12])
    if person is None:
        flash(_("验证码不正确或已失效，请重新获取。"), "error")
        return render_template("reporter/report_login.html", phone=phone, step="code"), 400
    login_user(person)
    return redirect(url_for("reporter.report_form"))


@bp.post("/report")
def report_submit():
    person = _officer()
    if person is None:
        abort(403)
    values = {key: request.form.get(key, "").strip()[:30] for key in INDICATORS}
    indicators: dict[str, float] = {}
    for key, text in values.items():
        if text:
            try:
                indicators[key] = float(text.replace(",", "").replace("，", ""))
            except ValueError:
                flash(_("%(name)s请填写数字。", name=INDICATOR_LABELS[key]), "error")
                return _render_form(person, request.form, 400)
    kind = request.form.get("kind") or None
    hazard = request.form.get("hazard") or None
    if kind not in (None, *REPORT_KINDS) or hazard not in (None, *HAZARDS):
        flash(_("报告类型或灾种无效。"), "error")
        return _render_form(person, request.form, 400)
    try:
        _report, reply = flows.submit_web_report(person, kind=kind, hazard=hazard, indicators=indicators,
                                                 narrative=request.form.get("narrative", "")[:200])
    except ReportRefused as exc:
        flash(str(exc), "error")
        return _render_form(person, request.form, 400)
    # The reply is the SMS one (Chinese by nature); an English page says the same in English.
    flash(reply if get_locale().language == "zh" else _("报告%(id)s已收到。", id=_report.public_id), "success")
    return redirect(url_for("reporter.report_form"))
