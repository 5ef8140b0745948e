"""Page furniture every part shares: the navigation bar and template globals."""

from __future__ import annotations

from flask import Flask
from flask_login import current_user


def add_nav(app: Flask, label, url: str, order: int = 50, staff_only: bool = True) -> None:
    """Put a link in the top bar (label may be a lazy translation)."""
    app.extensions.setdefault("zaibao_nav", []).append((order, label, url, staff_only))


def init_app(app: Flask) -> None:
    @app.context_processor
    def _globals():
        items = sorted(app.extensions.get("zaibao_nav", []), key=lambda t: t[0])
        staff = current_user.is_authenticated and getattr(current_user, "is_staff", False)
        return {"nav_items": [{"label": label, "url": url} for _o, label, url, staff_only in items
                              if staff or not staff_only],
                "exercise_banner": None}
