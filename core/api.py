"""The JSON API's shared plumbing: bearer auth, JSON errors, cursor pagination, OpenAPI.

Parts add routes to `bp` (prefix /api/v1) in their own views and describe them with `@doc`;
`/api/v1/openapi.json` is generated from the URL map and those descriptions.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, current_app, g, jsonify, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import Select
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from core.extensions import csrf, db
from core.localtime import as_utc
from core.models import Person
from core.people import person_for_token

bp = Blueprint("api", __name__, url_prefix="/api/v1")
MAX_LIMIT = 500

_ERROR_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 409: "conflict", 422: "unprocessable", 429: "rate_limited"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message = status, message
        self.code = code or _ERROR_CODES.get(status, "error")


def error_response(status: int, message: str, code: str | None = None):
    code = code or _ERROR_CODES.get(status, "error")
    return jsonify({"error": {"code": code, "message": message}}), status


def api_person() -> Person:
    """The caller: a bearer token, or a logged-in board session (GET, or POST with CSRF)."""
    return g.api_person


@bp.before_request
def _authenticate():
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        person = person_for_token(header[7:].strip())
        if person is None:
            raise ApiError(401, "invalid or revoked token")
        g.api_person = person
        return None
    if current_user and current_user.is_authenticated and current_user.is_staff:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            csrf.protect()
        g.api_person = current_user._get_current_object()
        return None
    raise ApiError(401, "send Authorization: Bearer <token> (flask tokens create PHONE)")


def _handle_api_error(exc: ApiError):
    return error_response(exc.status, exc.message, exc.code)


# The pages' own words for an error, in the page's language (the board is used at night by people
# who should not meet a bare English "403 Forbidden").
_PAGE_ERRORS = {
    403: (_l("无权访问"), _l("您的账号无权查看或操作此项内容。如需处理，请联系上级应急管理部门。")),
    404: (_l("未找到"), _l("没有这个页面，或它不在您的管辖范围内。")),
    405: (_l("操作无效"), _l("此页面不支持这种操作，请从页面上的按钮进入。")),
    500: (_l("系统出错"), _l("系统出错，已记录。请稍后重试；紧急情况请电话联系。")),
}


def error_page(status: int, headers=None):
    """A page in the site's frame for an error status, with a way back; plain text if even that fails."""
    heading, explanation = _PAGE_ERRORS.get(status, _PAGE_ERRORS[500])
    referrer = request.referrer or ""
    back = referrer if referrer.startswith(request.host_url) else "/"
    try:
        return render_template("error.html", heading=heading, explanation=explanation, back=back), status, headers
    except Exception:  # noqa: BLE001  (a broken page must not hide the error it reports)
        current_app.logger.exception("the error page itself failed")
        return f"{heading}: {explanation}", status, headers


def _handle_http_error(exc: HTTPException):
    if request.path.startswith("/api/"):
        response, status = error_response(exc.code or 500, exc.description or exc.name)
        for name, value in exc.get_headers():  # Allow on a 405, WWW-Authenticate, Retry-After …
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status
    if exc.code in _PAGE_ERRORS:
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return error_page(exc.code, headers)
    return exc


def _handle_unexpected(exc: Exception):
    if isinstance(exc, HTTPException):
        return _handle_http_error(exc)
    try:
        db.session.rollback()
    except SQLAlchemyError:
        db.session().invalidate()
    if isinstance(exc, OperationalError):  # the database is down: the client may retry, nothing is lost
        current_app.logger.error("database unavailable on %s: %s", request.path, exc)
        if request.path.startswith("/api/"):
            response, status = error_response(503, "the database is unavailable; try again shortly", "unavailable")
            response.headers["Retry-After"] = "5"
            return response, status
        return "服务暂时不可用，请稍后重试。Service temporarily unavailable.", 503, {"Retry-After": "5"}
    current_app.logger.exception("unhandled error on %s", request.path)
    if request.path.startswith("/api/"):
        return error_response(500, "internal error; it has been logged", "internal")
    return error_page(500)


# ---- pagination --------------------------------------------------------------------------

def encode_cursor(value: int) -> str:
    return base64.urlsafe_b64encode(f"id:{value}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind != "id":
            raise ValueError
        return int(value)
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(400, f"cursor {cursor!r} is not one this API issued") from None


def int_arg(name: str, default: int, minimum: int = 1, maximum: int = MAX_LIMIT) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number") from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"{name} must be between {minimum} and {maximum}")
    return value


def code_arg(name: str) -> str | None:
    """A 12-digit division code from the query string, or None when absent."""
    value = request.args.get(name)
    if value in (None, ""):
        return None
    if not (value.isdigit() and len(value) == 12):
        raise ApiError(400, f"{name} must be a 12-digit division code")
    return value


def choice_arg(name: str, choices) -> str | None:
    """One of `choices` from the query string (any case, spaces trimmed: `rule=e2` is `E2`),
    or None when absent."""
    value = request.args.get(name)
    if value in (None, "") or not value.strip():
        return None
    wanted = value.strip().casefold()
    for choice in choices:
        if str(choice).casefold() == wanted:
            return choice
    raise ApiError(400, f"{name} must be one of {', '.join(choices)}")


def since_arg(name: str = "since") -> datetime | None:
    """An ISO 8601 date or time; without a zone it is the deployment's local time (TIMEZONE)."""
    value = request.args.get(name)
    if value in (None, ""):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO 8601 date or time, e.g. 2026-07-30T08:00:00+08:00 "
                            "(without a zone: local time)") from None
    return as_utc(moment)


def exercise_arg() -> int | None:
    """`?exercise=<id>`: that exercise's records; absent means real records only."""
    value = request.args.get("exercise")
    if value in (None, ""):
        return None
    if not value.isdigit() or len(value) > 9:
        raise ApiError(400, "exercise must be an exercise id (a whole number)")
    return int(value)


def paginate(stmt: Select, id_column, serialize: Callable[[Any], dict], default_limit: int = 50):
    """Keyset pagination, newest first: `{"items": [...], "next": cursor-or-null}`."""
    limit = int_arg("limit", default_limit)
    cursor = request.args.get("cursor")
    if cursor:
        stmt = stmt.where(id_column < decode_cursor(cursor))
    rows = list(db.session.scalars(stmt.order_by(id_column.desc()).limit(limit + 1)).unique())
    more = len(rows) > limit
    rows = rows[:limit]
    last_id = getattr(rows[-1], id_column.key) if rows else None
    return jsonify({"items": [serialize(r) for r in rows],
                    "next": encode_cursor(last_id) if more and last_id is not None else None})


# ---- OpenAPI -----------------------------------------------------------------------------

def doc(summary: str, params: dict[str, str] | None = None, body: dict | None = None,
        tag: str | None = None):
    """Describe an API route for the generated OpenAPI document.

    `params` maps query parameter names to descriptions; `body` is a JSON-schema of the
    request body for POST routes.
    """
    def attach(fn):
        fn._openapi = {"summary": summary, "params": params or {}, "body": body, "tag": tag}
        return fn
    return attach


# ---- the caller --------------------------------------------------------------------------

@bp.get("/me")
@doc("The caller: name, phone, role and division (checks a token works)", tag="kernel")
def me():
    person = api_person()
    return jsonify({"name": person.name, "phone": person.phone, "role": person.role,
                    "division_code": person.division_code, "division_name": person.division.name})


@bp.get("/openapi.json")
def openapi():
    paths: dict[str, dict] = {}
    for rule in current_app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        view = current_app.view_functions[rule.endpoint]
        meta = getattr(view, "_openapi", {"summary": (view.__doc__ or rule.endpoint).strip().split("\n")[0],
                                          "params": {}, "body": None, "tag": None})
        path = rule.rule
        parameters = []
        for arg in rule.arguments:
            path = path.replace(f"<{arg}>", f"{{{arg}}}")
            for conv in ("int", "string", "path"):
                path = path.replace(f"<{conv}:{arg}>", f"{{{arg}}}")
            parameters.append({"name": arg, "in": "path", "required": True, "schema": {"type": "string"}})
        for name, description in meta["params"].items():
            parameters.append({"name": name, "in": "query", "required": False,
                               "description": description, "schema": {"type": "string"}})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {
                "summary": meta["summary"], "operationId": f"{rule.endpoint}_{method.lower()}",
                "parameters": parameters,
                "responses": {"200": {"description": "OK", "content": {"application/json": {}}},
                              "4XX": {"description": "JSON error {error: {code, message}}"}},
            }
            if meta.get("tag"):
                op["tags"] = [meta["tag"]]
            if meta.get("body") and method == "POST":
                op["requestBody"] = {"content": {"application/json": {"schema": meta["body"]}}}
            if rule.endpoint != "api.openapi":
                op["security"] = [{"bearer": []}]
            paths.setdefault(path, {})[method.lower()] = op
    return jsonify({
        "openapi": "3.0.3",
        "info": {"title": "Zaibao 灾报 API", "version": "1"},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": dict(sorted(paths.items())),
    })


def init_app(app: Flask) -> None:
    csrf.exempt(bp)
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_error)
    app.register_error_handler(Exception, _handle_unexpected)
    # Registered after the parts have added their routes (see create_app).
    app.extensions["zaibao_api_bp"] = bp


def register(app: Flask) -> None:
    app.register_blueprint(bp)
