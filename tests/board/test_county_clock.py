"""The county's own clock: its 初报 to the city is due 2 hours after the event began (township to
county: 1 hour). The board shows both; the county office marks its report sent (audited)."""

from __future__ import annotations

from datetime import timedelta

from core.extensions import db
from core.models import AuditEntry
from reporter.models import Event
from tests.conftest import csrf_token


def _post(client, path):
    return client.post(path, data={"csrf_token": csrf_token(client, "/board"), "next": "/board"})


def test_the_county_marks_its_initial_report_sent_and_the_clock_stops(client, tree, make_person, login, rows):
    event = rows.event(tree.county)
    rows.incident(tree.village, event, figures={"relocated": 3})
    county = make_person("county", tree.county, name="县值班")
    login(county)
    html = client.get("/board").get_data(as_text=True)
    due = event.started_at + timedelta(hours=2)
    assert "县级初报期限" in html and f'datetime="{due.isoformat()}"' in html and "乡镇报县期限" in html
    assert _post(client, f"/board/events/{event.id}/county-report").status_code == 302
    db.session.expire_all()
    marked = db.session.get(Event, event.id)
    assert marked.county_reported_at is not None and marked.county_reported_by_id == county.id
    assert db.session.query(AuditEntry).filter_by(action="event.county_report").count() == 1
    html = client.get("/board").get_data(as_text=True)
    assert "县级初报已报送" in html and "县值班" in html and f"/board/events/{event.id}/county-report" not in html


def test_a_township_may_not_and_the_api_says_so(client, tree, make_person, login, rows, api_token):
    event = rows.event(tree.county)
    rows.incident(tree.village, event, figures={"relocated": 3})
    township = make_person("township", tree.township)
    login(township)
    assert f"/board/events/{event.id}/county-report" not in client.get("/board").get_data(as_text=True)
    assert _post(client, f"/board/events/{event.id}/county-report").status_code == 403
    url = f"/api/v1/events/{event.id}/county-report"
    assert client.post(url, headers=api_token(township)).status_code == 403
    county = api_token(make_person("county", tree.county))
    data = client.post(url, headers=county).get_json()
    assert data["county_reported_at"] and data["county_report_due_at"]
    assert client.post(url, headers=county).status_code == 422  # once
