"""reporter routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reporter", __name__, template_folder="templates")
