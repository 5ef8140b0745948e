"""Errors on pages speak the page's language, inside the site's frame, with a way back (the board
issue: a township clicking a county-level button met a bare English "403 Forbidden")."""

from __future__ import annotations

from core.extensions import db
from tests.conftest import csrf_token


def test_a_forbidden_action_shows_a_page_with_a_way_back(client, tree, make_person, login, rows):
    event = rows.event(tree.county)
    rows.incident(tree.village, event, figures={"relocated": 3})
    login(make_person("township", tree.township))
    response = client.post(f"/board/events/{event.id}/daily",
                           data={"csrf_token": csrf_token(client, "/board"), "on": "1"},
                           headers={"Referer": "http://localhost/board"})
    html = response.get_data(as_text=True)
    assert response.status_code == 403
    assert "无权访问" in html and 'href="http://localhost/board"' in html and "Forbidden" not in html
    assert 'class="topbar"' in html  # the site's frame: the navigation is still there


def test_not_found_in_english_too(client):
    response = client.get("/no/such/page?lang=en")
    html = response.get_data(as_text=True)
    assert response.status_code == 404 and "Not found" in html and "未找到" not in html


def test_a_back_link_never_leaves_the_site(client):
    html = client.get("/no/such/page", headers={"Referer": "https://evil.example/"}).get_data(as_text=True)
    assert "evil.example" not in html


def test_acknowledge_buttons_only_where_the_viewer_may_acknowledge(client, tree, make_person, login, rows):
    """A township saw the button of the county's escalation too, and pressing it gave a 403."""
    from dispatch.models import Escalation

    event = rows.event(tree.county)
    incident, _ = rows.incident(tree.village, event, figures={"deaths": 1})
    township = make_person("township", tree.township)
    county = make_person("county", tree.county)
    own = rows.escalation(incident, [township])
    county_level = rows.escalation(incident, [county], rule="E2", level="county")
    county_level.division_code = tree.county.code
    db.session.commit()
    login(township)
    html = client.get("/board").get_data(as_text=True)
    assert f"/board/escalations/{own.id}/ack" in html
    assert f"/board/escalations/{county_level.id}/ack" not in html
    assert db.session.get(Escalation, county_level.id).status == "open"
