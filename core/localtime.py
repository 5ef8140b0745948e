"""Local time: everything is stored in UTC and shown, dated and named in the deployment's zone.

TIMEZONE (default Asia/Shanghai) decides what "today" is for daily reports, event names, the
board's "reported today", CAP times and every time a person reads.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask import Flask, current_app

DEFAULT_ZONE = "Asia/Shanghai"


def zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("TIMEZONE", DEFAULT_ZONE))


def local(moment: datetime) -> datetime:
    """A stored (UTC) time in the deployment's zone."""
    return moment.astimezone(zone())


def local_text(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time as a person reads it ("" for none)."""
    return local(moment).strftime(fmt) if moment is not None else ""


def local_date(moment: datetime | None = None) -> date:
    """The calendar day (now, or of `moment`) in the deployment's zone."""
    return local(moment or datetime.now(UTC)).date()


def day_start(moment: datetime) -> datetime:
    """Midnight of `moment`'s local calendar day, as UTC."""
    return local(moment).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


def as_utc(moment: datetime) -> datetime:
    """A time a person typed: naive means local; returned in UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone())
    return moment.astimezone(UTC)


def init_app(app: Flask) -> None:
    """`{{ t|localtime }}` in every template (board, drills, shelters, officer pages)."""
    app.add_template_filter(lambda moment, fmt="%m-%d %H:%M": local_text(moment, fmt), "localtime")
