"""Settings read from the environment (SPEC §8.2), with embedded defaults for `make run`."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("ZAIBAO_INSTANCE", BASE_DIR / "instance"))


def database_url(url: str | None) -> str:
    """Accept the URLs people write and return one SQLAlchemy can use with our driver.

    A plain ``postgresql://user@host/db`` must work as given (SPEC §8.2), so it is pointed at
    psycopg 3, the driver we ship.
    """
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'zaibao.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _float(name: str, default: float | None) -> float | None:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def _bool(name: str, default: bool | None) -> bool | None:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEV_SECRET_KEY = "dev-only-change-me"  # accepted by `make run` (the embedded SQLite file) and tests only


class Config:
    SECRET_KEY = os.environ.get("SECRET_KEY", DEV_SECRET_KEY)
    SQLALCHEMY_DATABASE_URI = database_url(os.environ.get("DATABASE_URL"))
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True}
    REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

    SMS_BACKEND = os.environ.get("SMS_BACKEND", "console")
    TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "dev-auth-token")
    TWILIO_FROM = os.environ.get("TWILIO_FROM", "+8610000000000")
    TWILIO_MESSAGING_SERVICE_SID = os.environ.get("TWILIO_MESSAGING_SERVICE_SID", "")
    TWILIO_API_BASE = os.environ.get("TWILIO_API_BASE", "https://api.twilio.com")
    TWILIO_TIMEOUT_SECONDS = float(os.environ.get("TWILIO_TIMEOUT_SECONDS", "10"))
    PUBLIC_BASE_URL = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    SMS_RATE_PER_SECOND = float(os.environ.get("SMS_RATE_PER_SECOND", "10"))

    SPOOL_DIR = os.environ.get("SPOOL_DIR", str(INSTANCE_DIR / "spool"))
    TILE_URL = os.environ.get("TILE_URL", "")
    # The webhook must store an SMS within this many seconds, or it spools it and answers (a hung
    # database). Unset: 1 s on PostgreSQL, none on the embedded SQLite file. 0: no limit.
    WEBHOOK_STORE_SECONDS = _float("WEBHOOK_STORE_SECONDS", None)
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")  # GET /metrics: bearer token, or loopback only
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")          # failed logins per account
    LOGIN_IP_RATE_LIMIT = os.environ.get("LOGIN_IP_RATE_LIMIT", "60 per minute")    # failed logins per address
    OTP_PHONE_RATE_LIMIT = os.environ.get("OTP_PHONE_RATE_LIMIT", "10 per 10 minutes")  # web-form codes per phone
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Unset: Secure when PUBLIC_BASE_URL is https (and HSTS is sent then too).
    SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", None)
    WTF_CSRF_TIME_LIMIT = None
    BABEL_DEFAULT_LOCALE = "zh"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")  # `make translations`
    BABEL_DEFAULT_TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")
    TIMEZONE = os.environ.get("TIMEZONE", "Asia/Shanghai")
    # Listening order is priority: a report's first alert to its responders first, then the other
    # texts (updates, repeats, E4s, notices), jobs, and reminders (E5, bulk) last.
    RQ_QUEUES = ("alerts", "sms", "default", "bulk")
    # Prefix of every Redis key, queue, lock and job id (letters, digits, - and _). Unset: derived
    # from the database URL, so two deployments on one Redis never share a job.
    REDIS_NAMESPACE = os.environ.get("REDIS_NAMESPACE", "")
    # The parts above the kernel, bottom to top (ARCHITECTURE.md): `core.create_app` loads each
    # by name and calls its `init_app`, as Django loads INSTALLED_APPS. A part imports only the
    # parts before it in this list (checked by `lint-imports`, see pyproject.toml).
    PARTS = ("messaging", "reporter", "shelters", "dispatch", "drills", "board", "ops")


class TestConfig(Config):
    TESTING = True
    # Tests race real workers for SQLite's write lock and PostgreSQL's row locks: a wait past 1 s
    # is normal there. The hung-database tests set their own limit.
    WEBHOOK_STORE_SECONDS = 10.0
    SESSION_COOKIE_SECURE = False  # the test client speaks http to an https PUBLIC_BASE_URL
    WTF_CSRF_ENABLED = True
    LOGIN_RATE_LIMIT = "1000 per minute"
    LOGIN_IP_RATE_LIMIT = "1000 per minute"
    OTP_PHONE_RATE_LIMIT = "1000 per minute"
