"""Production safety (issue 13, item 8): no development SECRET_KEY outside development, Secure
cookies and HSTS behind https, and API tokens with a label, an expiry, a list and a revocation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config import DEV_SECRET_KEY, Config, TestConfig
from core import create_app
from core.extensions import db
from core.models import ApiToken, utcnow


def test_the_development_secret_key_is_refused_for_a_real_database():
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(Config, {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://zaibao@db.example/zaibao",
                            "SECRET_KEY": DEV_SECRET_KEY})
    # make run's embedded SQLite file is development: it starts
    create_app(Config, {"SQLALCHEMY_DATABASE_URI": "sqlite:///:memory:", "SECRET_KEY": DEV_SECRET_KEY})


def test_behind_https_the_session_cookie_is_secure_and_hsts_is_sent(app_config, tree, make_person):
    https = create_app(TestConfig, {**app_config, "SESSION_COOKIE_SECURE": None,
                                    "PUBLIC_BASE_URL": "https://zaibao.example.cn"})
    client = https.test_client()
    response = client.get("/login", base_url="https://zaibao.example.cn")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    cookie = response.headers.get("Set-Cookie", "")
    assert "session=" in cookie and "Secure" in cookie


def test_plain_http_sends_no_hsts(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers


def test_tokens_have_a_label_an_expiry_a_list_and_a_revocation(cli, client, tree, make_person):
    person = make_person("county", tree.county, name="涿州应急局")
    created = cli("tokens", "create", person.phone, "--label", "city dashboard", "--expires", "30")
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/reports", headers=headers).status_code == 200

    listed = cli("tokens", "list").output
    row = next(line for line in listed.splitlines() if "city dashboard" in line)
    token_id = row.split("\t")[0]
    assert "active" in row and token not in listed  # never the token itself

    assert cli("tokens", "revoke", token_id).exit_code == 0
    assert client.get("/api/v1/reports", headers=headers).status_code == 401
    assert "revoked" in cli("tokens", "list").output
    assert cli("tokens", "revoke", "99999").exit_code == 1

    for command in ("create", "list", "revoke"):  # each says what it does
        assert cli("tokens", command, "--help").output.count("\n") > 3


def test_an_expired_token_stops_working(cli, client, tree, make_person):
    person = make_person("county", tree.county)
    token = cli("tokens", "create", person.phone, "--expires", "1").output.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/reports", headers=headers).status_code == 200
    row = db.session.query(ApiToken).one()
    row.expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert client.get("/api/v1/reports", headers=headers).status_code == 401
    assert "expired" in cli("tokens", "list").output
