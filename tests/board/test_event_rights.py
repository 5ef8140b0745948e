"""Who may see and who may decide an event (灾害过程): one rule (reporter.access), the same on the
JSON API and on the board. It used to be written three times, and the copies disagreed."""

from __future__ import annotations

import pytest

from core.extensions import db
from reporter.models import Event
from tests.conftest import csrf_token


def _board_post(client, path, data=None):
    return client.post(path, data={"csrf_token": csrf_token(client, "/board"), "next": "/board", **(data or {})})


# role, where the person sits (attribute of `tree`), sees the event, may decide on it
CASES = [
    ("township", "township", True, False),       # its village is in the event: sees it, may not decide
    ("township", "township2", False, False),     # another township of the county, no incident of its own
    ("county", "county", True, True),            # the county office: the first reporting unit
    ("city", "city", True, True),                # an office above the county
    ("county", "other_county", False, False),    # the neighbouring county
]


@pytest.mark.parametrize(("role", "seat", "sees", "decides"), CASES)
def test_one_rule_for_the_api_and_the_board(role, seat, sees, decides, client, tree, make_person, login,
                                            api_token, rows):
    event = rows.event(tree.county)
    rows.incident(tree.village, event, figures={"relocated": 3})
    person = make_person(role, getattr(tree, seat))
    headers = api_token(person)

    # seeing: the API's one event and list, the board's CAP export
    assert client.get(f"/api/v1/events/{event.id}", headers=headers).status_code == (200 if sees else 404)
    listed = [e["id"] for e in client.get("/api/v1/events", headers=headers).get_json()["items"]]
    assert (event.id in listed) is sees
    login(person)
    assert client.get(f"/board/events/{event.id}/cap.xml").status_code == (200 if sees else 404)

    # deciding: daily reporting on the API and on the board; refused means 403 when seen, else 404
    refused = 403 if sees else 404
    api = client.post(f"/api/v1/events/{event.id}/daily-report", json={"on": True}, headers=headers)
    assert api.status_code == (200 if decides else refused)
    db.session.expire_all()
    assert db.session.get(Event, event.id).daily_report is decides
    board = _board_post(client, f"/board/events/{event.id}/daily", {"on": "0"})
    assert board.status_code == (302 if decides else refused)
    db.session.expire_all()
    assert db.session.get(Event, event.id).daily_report is False
