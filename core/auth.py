"""Staff login (phone + password, Flask-Login, CSRF, rate-limited) and access decorators.

Failed logins are limited per account (LOGIN_RATE_LIMIT) and, more loosely, per address
(LOGIN_IP_RATE_LIMIT: an office's staff share one), counted in Redis by every process alike.
"""

from __future__ import annotations

import functools

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from core.extensions import db, limiter, login_manager
from core.models import Person
from core.people import by_phone, try_normalise_phone

bp = Blueprint("auth", __name__, template_folder="templates")
# A constant hash to compare against when the phone is unknown, so timing reveals nothing.
_DUMMY_HASH = "scrypt:32768:8:1$3y7Q0ZzN9bA1ZkQX$" + "0" * 128


class LoginForm(FlaskForm):
    phone = StringField(_l("手机号"), validators=[DataRequired(), Length(max=30)])
    password = PasswordField(_l("密码"), validators=[DataRequired(), Length(max=200)])


@login_manager.user_loader
def _load_user(user_id: str) -> Person | None:
    person = db.session.get(Person, int(user_id)) if user_id.isdigit() else None
    return person if person is not None and person.active else None


login_manager.login_view = "auth.login"
login_manager.login_message = _l("请先登录。")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_ip_limit() -> str:
    return current_app.config["LOGIN_IP_RATE_LIMIT"]


def form_phone_key() -> str:
    """Rate-limit key of the phone a form names (one account, one officer), whatever IP it comes
    from: a lockout of one account never locks out the others behind an office's shared address."""
    raw = (request.form.get("phone") or "")[:40]
    return "phone:" + (try_normalise_phone(raw) or raw.strip())


def failed_attempt(response) -> bool:
    """Only failures count against a limit: a login or code that worked (it redirects) is no guess."""
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=form_phone_key, deduct_when=failed_attempt)
@limiter.limit(_login_ip_limit, methods=["POST"], deduct_when=failed_attempt)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        person = by_phone(form.phone.data)
        stored = person.password_hash if person is not None and person.password_hash else _DUMMY_HASH
        # Always compute a hash, even for an unknown phone, so timing does not reveal which exist.
        ok = check_password_hash(stored, form.password.data) and stored != _DUMMY_HASH
        if person is not None and ok and person.is_staff:
            login_user(person)
            return redirect(_safe_next(request.args.get("next")) or "/board")
        flash(_l("手机号或密码不正确。"), "error")
    return render_template("login.html", form=form), (200 if request.method == "GET" or form.errors == {} else 400)


def _safe_next(target: str | None) -> str | None:
    """Only same-site relative paths: an open redirect would help phishing."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return None


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("auth.login"))


def staff_required(view):
    """Logged in as a responder/office (officers use the one-time-code form instead)."""
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not current_user.is_staff:
            abort(403)
        return view(*args, **kwargs)
    return wrapper


def _too_many_attempts(exc):
    """The login rate limit: the form again with a Chinese explanation (JSON on the API)."""
    if request.path.startswith("/api/"):
        from core.api import error_response

        return error_response(429, "too many requests; try again later")
    flash(_l("登录尝试次数过多，请稍后再试。"), "error")
    return render_template("login.html", form=LoginForm()), 429


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_error_handler(429, _too_many_attempts)

    @app.get("/", endpoint="index")
    def index():
        return redirect("/board")
