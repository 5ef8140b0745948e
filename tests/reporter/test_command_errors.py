"""Only our own refusals reach an officer by SMS (core.refusals.Refusal).

A command is answered by the part that registered it (reporter.commands). If that part fails
with anything else — a ValueError from a driver or a library, a bug — the text of the error
must not be texted to the officer (it may say anything, in English, about our internals): the
officer is told the message went to a person, and the message waits in the review queue."""

from __future__ import annotations

import uuid

import pytest

from config import TestConfig
from core import create_app
from core.refusals import Refusal
from messaging.gateway import sign
from reporter import commands
from reporter.commands import Handled
from reporter.intake import TROUBLE
from reporter.models import InboundMessage, Outcome
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL
from tests.reporter.conftest import twiml_text

INTERNAL = "invalid literal for int() with base 10: 'S12' (shelters/service.py line 88)"


@pytest.fixture
def app_with(app_config):
    """A second app on the same database whose shelter commands are played by a stand-in part
    (every part but shelters is loaded; the stand-in registers as a part would)."""
    def make(handler):
        parts = tuple(p for p in TestConfig.PARTS if p != "shelters")
        other = create_app(TestConfig, {**app_config, "PARTS": parts})
        commands.register(other, "shelter_query", handler)
        return other
    return make


def _send(app, phone: str, body: str):
    form = {"MessageSid": "SM" + uuid.uuid4().hex, "From": phone, "To": "+8610690000", "Body": body}
    signature = sign(PUBLIC_BASE_URL + "/sms/inbound", form, AUTH_TOKEN)
    response = app.test_client().post("/sms/inbound", data=form, headers={"X-Twilio-Signature": signature})
    return twiml_text(response), form["MessageSid"]


def test_another_parts_error_is_kept_for_review_and_never_texted(app_with, officer):
    def broken(person, command, message, exercise_id):
        raise ValueError(INTERNAL)

    reply, sid = _send(app_with(broken), officer.phone, "避难 120人")
    assert reply == TROUBLE and INTERNAL not in reply
    with app_with(broken).app_context():
        from core.extensions import db

        message = db.session.query(InboundMessage).filter_by(sid=sid).one()
        assert message.outcome == Outcome.UNPARSED and message.review_status == "pending"
        assert message.body == "避难 120人"  # nothing lost


def test_a_refusal_is_texted_as_worded(app_with, officer):
    def refusing(person, command, message, exercise_id):
        raise Refusal("附近避难场所暂不开放，请联系乡镇应急办。")

    reply, _sid = _send(app_with(refusing), officer.phone, "避难")
    assert reply == "附近避难场所暂不开放，请联系乡镇应急办。"


def test_a_handlers_answer_is_the_reply(app_with, officer):
    reply, _sid = _send(app_with(lambda *_: Handled(Outcome.SHELTER_QUERY, "S1 体育场 空位200")),
                        officer.phone, "避难")
    assert reply == "S1 体育场 空位200"
