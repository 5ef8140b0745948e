"""Fixtures for the reporter tests: officers in the shared tree, a live HTTP server of the app."""

from __future__ import annotations

import pytest

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
