"""Staff login (CSRF, rate limit, who may log in), API tokens and the API's JSON errors."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from config import TestConfig
from core import create_app
from core.extensions import db
from core.models import ApiToken
from tests.conftest import PASSWORD, csrf_token


def post_login(client, phone: str, password: str, **kwargs):
    return client.post("/login", data={"phone": phone, "password": password,
                                       "csrf_token": csrf_token(client)}, **kwargs)


def logged_in(client) -> bool:
    with client.session_transaction() as session:
        return "_user_id" in session


def test_login_success_redirects_to_board(client, tree, make_person):
    person = make_person("county", tree.county)
    response = post_login(client, person.phone, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/board"
    assert logged_in(client)
    assert client.get("/api/v1/me").get_json()["phone"] == person.phone  # the session works on the API


def test_login_accepts_any_phone_spelling_and_safe_next(client, tree, make_person):
    make_person("township", tree.township, phone="+8613812345678")
    response = client.post("/login?next=/board/x", data={"phone": "138 1234 5678", "password": PASSWORD,
                                                         "csrf_token": csrf_token(client)})
    assert response.status_code == 302 and response.headers["Location"] == "/board/x"
    client.post("/logout", data={"csrf_token": csrf_token(client)})
    response = client.post("/login?next=//evil.example/", data={
        "phone": "13812345678", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.headers["Location"] == "/board"


@pytest.mark.parametrize("case", ["wrong password", "unknown phone", "officer without password",
                                  "officer with password", "deactivated"])
def test_login_refused(case, client, tree, make_person):
    if case == "wrong password":
        phone, password = make_person("county", tree.county).phone, "not the password"
    elif case == "unknown phone":
        phone, password = "+8613999999999", PASSWORD
    elif case == "officer without password":
        phone, password = make_person("officer_a", tree.village).phone, ""
    elif case == "officer with password":
        officer = make_person("officer_a", tree.village)
        from core.people import hash_password
        officer.password_hash = hash_password(PASSWORD)
        db.session.commit()
        phone, password = officer.phone, PASSWORD
    else:
        phone, password = make_person("county", tree.county, active=False).phone, PASSWORD
    response = post_login(client, phone, password)
    assert response.status_code in (200, 400)
    if password:
        assert "手机号或密码不正确" in response.get_data(as_text=True)
    assert not logged_in(client)
    assert client.get("/board").status_code in (302, 401, 404)  # never the board
    assert client.get("/api/v1/me").status_code == 401


def test_login_without_csrf_token_is_rejected(client, tree, make_person):
    person = make_person("county", tree.county)
    client.get("/login")
    response = client.post("/login", data={"phone": person.phone, "password": PASSWORD})
    assert response.status_code == 400
    assert not logged_in(client)
    response = client.post("/login", data={"phone": person.phone, "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 400 and not logged_in(client)


@pytest.fixture
def limited_app(app_config):
    return create_app(TestConfig, {**app_config, "LOGIN_RATE_LIMIT": "3 per minute",
                                   "LOGIN_IP_RATE_LIMIT": "6 per minute"})


def test_login_is_rate_limited_per_account(limited_app, tree, make_person):
    person = make_person("county", tree.county)
    colleague = make_person("county", tree.county, name="同事")
    client = limited_app.test_client()
    office = {"REMOTE_ADDR": "203.0.113.7"}
    statuses = [post_login(client, person.phone, "guess", environ_base=office).status_code for _ in range(3)]
    assert 429 not in statuses
    limited = post_login(client, person.phone, "guess", environ_base=office)
    assert limited.status_code == 429 and "登录尝试次数过多" in limited.get_data(as_text=True)
    # The account is locked, from any address, even with the right password (that is the point) ...
    assert post_login(client, person.phone, PASSWORD, environ_base=office).status_code == 429
    assert post_login(client, person.phone, PASSWORD, environ_base={"REMOTE_ADDR": "198.51.100.1"}).status_code == 429
    # ... but a colleague behind the same office address logs in (it used to be refused too).
    assert post_login(limited_app.test_client(), colleague.phone, PASSWORD, environ_base=office).status_code == 302


def test_an_address_guessing_many_accounts_is_limited(limited_app, tree, make_person):
    people = [make_person("county", tree.county, name=f"人{n}") for n in range(7)]
    client = limited_app.test_client()
    env = {"REMOTE_ADDR": "203.0.113.9"}
    statuses = [post_login(client, p.phone, "guess", environ_base=env).status_code for p in people]
    assert 429 not in statuses[:6] and statuses[6] == 429


def test_the_limit_is_shared_by_every_process(limited_app, app_config, tree, make_person):
    """Two gunicorn workers are two apps: each used to count in its own memory (14 of 30 wrong
    passwords went through with two workers). The counters are in Redis now."""
    other_process = create_app(TestConfig, {**app_config, "LOGIN_RATE_LIMIT": "3 per minute",
                                            "LOGIN_IP_RATE_LIMIT": "6 per minute"})
    person = make_person("county", tree.county)
    env = {"REMOTE_ADDR": "203.0.113.7"}
    for client in (limited_app.test_client(), other_process.test_client(), limited_app.test_client()):
        assert post_login(client, person.phone, "guess", environ_base=env).status_code != 429
    assert post_login(other_process.test_client(), person.phone, "guess", environ_base=env).status_code == 429


def test_tokens_create_prints_token_alone_on_last_line(cli, client, tree, make_person):
    person = make_person("township", tree.township, phone="+8613812345678", name="码头镇值班")
    result = cli("tokens", "create", "138 1234 5678")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("zb_") and " " not in token
    stored = db.session.scalars(select(ApiToken.token_hash)).all()
    assert len(stored) == 1 and token not in stored[0]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json() == {"name": "码头镇值班", "phone": "+8613812345678", "role": "township",
                                   "division_code": tree.township.code, "division_name": "码头镇"}
    assert person.id


def test_tokens_create_unknown_phone(cli, tree):
    result = cli("tokens", "create", "13800000000")
    assert result.exit_code == 1 and "no active person has the phone" in result.output


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer zb_wrong"}, {"Authorization": "Basic abc"}])
def test_api_refuses_without_a_valid_token(headers, client):
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "unauthorized"


def test_token_of_a_deactivated_person_or_revoked_stops_working(client, tree, make_person, api_token):
    person = make_person("county", tree.county)
    headers = api_token(person)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    person.active = False
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    person.active = True
    db.session.execute(ApiToken.__table__.update().values(revoked=True))
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_me_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["paths"]["/api/v1/me"]["get"]["security"] == [{"bearer": []}]
