"""drills routes."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("drills", __name__, template_folder="templates")
