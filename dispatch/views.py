"""dispatch routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("dispatch", __name__, template_folder="templates")

