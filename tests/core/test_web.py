"""Health endpoint (with a real unreachable Redis), security headers, JSON errors on the API."""

from __future__ import annotations

import pytest

from config import TestConfig
from core import create_app
from tests.conftest import free_port


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok", "redis": "ok"}


@pytest.fixture
def app_without_redis(app_config):
    """The same database, but REDIS_URL points at a port where nothing listens."""
    return create_app(TestConfig, {**app_config, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})


def test_healthz_reports_redis_down_and_the_service_still_answers(app_without_redis):
    client = app_without_redis.test_client()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": "ok", "redis": "unreachable"}
    login = client.get("/login")
    assert login.status_code == 200 and "csrf_token" in login.get_data(as_text=True)


def test_healthz_reports_database_down(app_config):
    broken = create_app(TestConfig, {**app_config,
                                     "SQLALCHEMY_DATABASE_URI": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x",
                                     "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 2}}})
    response = broken.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["redis"] == "ok" and body["database"].startswith("error: ")


def test_security_headers(client):
    for path in ("/login", "/healthz", "/api/v1/openapi.json", "/api/v1/nowhere"):
        headers = client.get(path).headers
        assert "script-src 'self'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_httponly(client, tree, make_person, login):
    response = login(make_person("county", tree.county))
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize("method, path, status", [
    ("get", "/api/v1/nowhere", 404),
    ("get", "/api/v1/", 404),
    ("post", "/api/v1/nowhere/deeper?x=<script>", 404),
    ("post", "/api/v1/me", 405),
])
def test_api_errors_are_json_never_a_stack_trace(method, path, status, client, tree, make_person, api_token):
    headers = api_token(make_person("county", tree.county))
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == status
    assert response.is_json
    error = response.get_json()["error"]
    assert set(error) == {"code", "message"} and error["message"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()


def test_openapi_is_public_and_lists_routes(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert "/api/v1/me" in spec["paths"]
    assert "security" not in spec["paths"]["/api/v1/openapi.json"]["get"]
