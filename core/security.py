"""Security headers on every response (SPEC §9)."""

from __future__ import annotations

from flask import Flask

CSP = ("default-src 'self'; img-src 'self' data: https:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
       "form-action 'self'")


HSTS = "max-age=31536000; includeSubDomains"


def init_app(app: Flask) -> None:
    https = app.config["PUBLIC_BASE_URL"].startswith("https://") and app.config.get("SESSION_COOKIE_SECURE")

    @app.after_request
    def _headers(response):
        if https:  # the service is reached over https only: browsers must never fall back to http
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response
