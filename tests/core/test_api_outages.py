"""The JSON API while the database is down, and a method it does not allow (issue 13, item 7)."""

from __future__ import annotations

import pytest

from core.extensions import db
from core.models import Division, Person
from core.people import create_token


@pytest.fixture
def api_on_private_postgres(private_app):
    app = private_app()
    with app.app_context():
        db.session.add(Division(code="130000000000", name="河北省", level="province"))
        person = Person(name="省应急厅", phone="+8613900000009", role="province", division_code="130000000000")
        db.session.add(person)
        db.session.commit()
        token = create_token(person)
    return app, {"Authorization": f"Bearer {token}"}


def test_the_api_answers_503_in_its_json_shape_while_the_database_is_down(api_on_private_postgres, private_postgres):
    app, headers = api_on_private_postgres
    client = app.test_client()
    assert client.get("/api/v1/reports", headers=headers).status_code == 200
    private_postgres["stop"]()
    response = client.get("/api/v1/reports", headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == "5"
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_method_not_allowed_says_which_are(client):
    response = client.delete("/api/v1/reports")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]
