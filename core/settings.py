"""A part's own settings: environment variable = config key, with a typed default."""

from __future__ import annotations

import os

from flask import Flask


def load_settings(app: Flask, defaults: dict[str, tuple[type, object]]) -> None:
    """Fill each key not already in the config from the environment, else its default."""
    for key, (kind, default) in defaults.items():
        if key in app.config:
            continue
        raw = os.environ.get(key)
        app.config[key] = kind(raw) if raw not in (None, "") else default
