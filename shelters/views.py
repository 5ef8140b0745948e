"""shelters routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("shelters", __name__, template_folder="templates")
