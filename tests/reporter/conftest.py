"""Fixtures for the reporter tests: officers in the shared tree, a live HTTP server of the app."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from reporter.models import InboundMessage, Report


@pytest.fixture
def officer(tree, make_person):
    return make_person("officer_a", tree.village, name="王官员")


@pytest.fixture
def officer2(tree, make_person):
    """Officer of 李庄村, same township."""
    return make_person("officer_a", tree.village2, name="李官员")


@pytest.fixture
def township_staff(tree, make_person):
    return make_person("township", tree.township, name="码头镇应急办")


@pytest.fixture
def county_staff(tree, make_person):
    return make_person("county", tree.county, name="涿州应急局")


@pytest.fixture
def live_server(app):
    """The app served by a real threaded HTTP server (each request its own app context)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def twiml_text(response) -> str:
    """The reply inside <Response><Message>…</Message></Response> (unescaped)."""
    from lxml import etree

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = etree.fromstring(response.get_data())
    assert root.tag == "Response"
    messages = root.findall("Message")
    assert len(messages) == 1
    return messages[0].text or ""


def message(sid: str) -> InboundMessage:
    from sqlalchemy import select

    from core.extensions import db

    db.session.rollback()
    return db.session.scalar(select(InboundMessage).where(InboundMessage.sid == sid))


def reports() -> list[Report]:
    from sqlalchemy import select

    from core.extensions import db

    db.session.rollback()
    return list(db.session.scalars(select(Report).order_by(Report.id)))
