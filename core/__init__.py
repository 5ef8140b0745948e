"""The shared kernel: app factory, settings, database, divisions and people, scope, auth, API
plumbing, audit, queues, exercise scope, local time and the in-process event bus.

It knows nothing of messages, reports, escalations, shelters or drills: those parts plug in
through their own ``init_app``, loaded by name from the PARTS setting (config.py), bottom to top.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import time
from pathlib import Path

import psycopg
from flask import Flask, has_request_context, request, session
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError

from config import DEV_SECRET_KEY, INSTANCE_DIR, Config
from core import api, auth, cli, extensions, health, localtime, security, web
from core.queue import namespace_for


def _locale() -> str:
    """Chinese by default; `?lang=en` switches and is remembered in the session.

    Outside a request (CLI, worker: SMS texts, imports) the answer is always Chinese.
    """
    if not has_request_context():
        return "zh"
    lang = request.args.get("lang")
    if lang in ("zh", "en"):
        session["lang"] = lang
    return session.get("lang", "zh")


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, _record) -> None:
    """SQLite serves web and worker at once: WAL and a busy timeout keep them from failing.

    PostgreSQL: a connection made with raw cursors (`create_app`) gets raw server-side cursors
    too, which `yield_per` uses; psycopg takes that one only as an attribute."""
    if getattr(dbapi_connection, "cursor_factory", None) is psycopg.RawCursor:
        dbapi_connection.server_cursor_factory = psycopg.RawServerCursor
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


# PostgreSQL: a pooled connection is checked with a round trip only when it has sat idle this long.
# The pool's own pre-ping checked it at every checkout: a sixth of an SMS webhook's time, and a
# round trip per send in the workers. A connection used a moment ago is trusted; if the server
# dropped it since, its first statement fails as it would have without the check (the webhook
# spools the message, a page answers 503) and SQLAlchemy discards the pool's older connections.
PING_AFTER_IDLE_SECONDS = 2.0


def _on_checkin(_dbapi_connection, record) -> None:
    record.info["idle_since"] = time.monotonic()


def _ping_idle_connections(engine: Engine) -> None:
    def on_checkout(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.get("idle_since")  # none yet: a new connection
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            # The pool's own ping, which leaves no transaction open: a connection handed over
            # in one could not be switched to AUTOCOMMIT (the send job) afterwards.
            engine.dialect.do_ping(dbapi_connection)
        except psycopg.Error as exc:
            raise DisconnectionError(str(exc)) from exc  # the pool connects afresh

    event.listen(engine, "checkin", _on_checkin)
    event.listen(engine, "checkout", on_checkout)


def _check_production_safety(app: Flask) -> None:
    """Refuse the development SECRET_KEY anywhere but `make run`'s embedded SQLite and tests (anyone
    knowing it could forge sessions); behind https, cookies are Secure (`core.security` adds HSTS)."""
    embedded = app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    if app.config["SECRET_KEY"] == DEV_SECRET_KEY and not (embedded or app.testing or app.debug):
        raise RuntimeError("SECRET_KEY is the development default: set SECRET_KEY to a long random secret "
                           "(python3 -c 'import secrets; print(secrets.token_hex(32))') before serving real data")
    if app.config.get("SESSION_COOKIE_SECURE") is None:
        secure = app.config["PUBLIC_BASE_URL"].startswith("https://")
        app.config["SESSION_COOKIE_SECURE"] = app.config["REMEMBER_COOKIE_SECURE"] = secure


def create_app(config: type | dict | None = None, overrides: dict | None = None) -> Flask:
    """Build the app. `config` is a settings class or dict; `overrides` are applied last.

    Settings must be complete before the extensions are attached: Flask-SQLAlchemy creates its
    engine in `init_app`, so changing SQLALCHEMY_DATABASE_URI afterwards has no effect.
    """
    app = Flask(__name__.split(".")[0], instance_path=str(INSTANCE_DIR))
    app.json.ensure_ascii = False  # the JSON API speaks Chinese as Chinese, not \u escapes
    app.config.from_object(Config)
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    app.config.update(overrides or {})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    Path(app.config["SPOOL_DIR"]).mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))

    postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    if postgresql:
        # A database host that does not answer must fail fast, so the webhook spools instead of hanging.
        options = dict(app.config["SQLALCHEMY_ENGINE_OPTIONS"])
        # Statements go to psycopg with PostgreSQL's own $1…$n, which its raw cursors pass on as they
        # are: with %(name)s, psycopg parses every statement to rewrite it and caches only short ones,
        # and the intake processor's multi-row INSERTs (thousands of parameters) spent 40 % of its CPU
        # there (py-spy, bench/README.md).
        options["paramstyle"] = "numeric_dollar"
        options["pool_pre_ping"] = False  # `_ping_idle_connections` instead
        options["connect_args"] = {"connect_timeout": 3, "cursor_factory": psycopg.RawCursor,
                                   **options.get("connect_args", {})}
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if not app.config.get("REDIS_NAMESPACE"):
        app.config["REDIS_NAMESPACE"] = namespace_for(app.config["SQLALCHEMY_DATABASE_URI"])
    namespace = app.config["REDIS_NAMESPACE"]
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", namespace):
        raise RuntimeError(f"REDIS_NAMESPACE must be 1-40 letters, digits, - or _, not {namespace!r}")
    _check_production_safety(app)
    # Rate limits are counted in Redis, shared by every process (in memory while Redis is down).
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"])
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1})
    app.config.setdefault("RATELIMIT_KEY_PREFIX", namespace)
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    if app.config.get("WEBHOOK_STORE_SECONDS") is None:
        app.config["WEBHOOK_STORE_SECONDS"] = 1.0 if postgresql else 0.0
    extensions.db.init_app(app)
    if postgresql:
        with app.app_context():
            _ping_idle_connections(extensions.db.engine)
    migrations = Path(__file__).resolve().parent.parent / "migrations"
    extensions.migrate.init_app(app, extensions.db, directory=str(migrations))
    extensions.csrf.init_app(app)
    extensions.limiter.init_app(app)
    extensions.babel.init_app(app, locale_selector=_locale)
    extensions.login_manager.init_app(app)

    security.init_app(app)
    web.init_app(app)
    auth.init_app(app)
    api.init_app(app)
    health.init_app(app)
    cli.init_app(app)
    localtime.init_app(app)
    for part in app.config["PARTS"]:
        importlib.import_module(part).init_app(app)  # by name: the kernel imports no part
    api.register(app)
    # Checks that need every part loaded (messaging: each SMS template has a provider code).
    for check in app.extensions.get("zaibao_ready_checks", []):
        check(app)
    return app
