"""The SMS gateway: console and the real twilio client against the fake Twilio server; segments;
webhook signatures."""

from __future__ import annotations

import pytest
from flask import request
from sqlalchemy import select

from core.extensions import db
from messaging.gateway import (
    ConsoleGateway,
    GatewayError,
    TwilioGateway,
    fit,
    get_gateway,
    segment_count,
    sign,
    signature_valid,
)
from messaging.models import ConsoleSms
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE_URL, free_port

TEXT = "【灾情】王庄村(码头镇) 洪涝 死亡0 失踪1 转移120 R1203。回复\"收到 E17\"确认。"


def test_console_backend_writes_the_text_to_console_sms(app, caplog):
    app.config["SMS_BACKEND"] = "console"
    try:
        gateway = get_gateway()
        assert isinstance(gateway, ConsoleGateway)
        with caplog.at_level("INFO", logger="zaibao.sms"):
            result = gateway.send("+8613812345678", TEXT)
        db.session.commit()
    finally:
        app.config["SMS_BACKEND"] = "twilio"
    row = db.session.scalar(select(ConsoleSms))
    assert (row.sid, row.to, row.body) == (result.sid, "+8613812345678", TEXT)
    assert result.status == "sent" and TEXT in caplog.text  # the demo user reads it in the log


def test_unknown_backend_is_a_clear_error(app):
    app.config["SMS_BACKEND"] = "carrier-pigeon"
    try:
        with pytest.raises(RuntimeError, match="SMS_BACKEND must be"):
            get_gateway()
    finally:
        app.config["SMS_BACKEND"] = "twilio"


def test_twilio_backend_sends_through_the_real_client(fake_twilio, app):
    gateway = get_gateway()
    assert isinstance(gateway, TwilioGateway)
    result = gateway.send("+8613812345678", TEXT)
    [received] = fake_twilio.messages
    assert result.sid == received.sid and result.status == "queued"
    assert (received.to, received.body, received.from_) == ("+8613812345678", TEXT, app.config["TWILIO_FROM"])
    assert received.status_callback == PUBLIC_BASE_URL + "/sms/status"
    assert received.messaging_service_sid is None


def test_twilio_backend_with_a_messaging_service(fake_twilio, app):
    config = {**app.config, "TWILIO_MESSAGING_SERVICE_SID": "MG" + "2" * 32}
    TwilioGateway(config).send("+8613812345678", "hello")
    [received] = fake_twilio.messages
    assert received.messaging_service_sid == "MG" + "2" * 32 and received.from_ is None


def test_rate_limited_is_retryable(fake_twilio):
    fake_twilio.configure(fail_next=1, fail_status=429, fail_code=20429)
    with pytest.raises(GatewayError) as caught:
        get_gateway().send("+8613812345678", TEXT)
    assert caught.value.retryable and not caught.value.ambiguous
    assert (caught.value.status, caught.value.code) == (429, 20429)
    assert fake_twilio.messages == []
    get_gateway().send("+8613812345678", TEXT)  # the retry goes through
    assert len(fake_twilio.messages) == 1


def test_server_error_is_retryable(fake_twilio):
    fake_twilio.configure(fail_next=1, fail_status=500, fail_code=20500)
    with pytest.raises(GatewayError) as caught:
        get_gateway().send("+8613812345678", TEXT)
    assert caught.value.retryable and caught.value.status == 500


def test_invalid_number_is_permanent(fake_twilio):
    fake_twilio.configure(bad_numbers={"+8613812345678": 21211})
    with pytest.raises(GatewayError) as caught:
        get_gateway().send("+8613812345678", TEXT)
    assert not caught.value.retryable and not caught.value.ambiguous
    assert caught.value.code == 21211 and "21211" in str(caught.value)


def test_slow_gateway_is_an_ambiguous_read_timeout(fake_twilio, app):
    fake_twilio.configure(delay=app.config["TWILIO_TIMEOUT_SECONDS"] + 1.5)
    with pytest.raises(GatewayError) as caught:
        get_gateway().send("+8613812345678", TEXT)
    assert caught.value.retryable and caught.value.ambiguous
    assert "read timeout" in str(caught.value)


def test_refused_connection_is_retryable_and_not_ambiguous(app):
    config = {**app.config, "TWILIO_API_BASE": f"http://127.0.0.1:{free_port()}"}
    with pytest.raises(GatewayError) as caught:
        TwilioGateway(config).send("+8613812345678", TEXT)
    assert caught.value.retryable and not caught.value.ambiguous


@pytest.mark.parametrize("text, segments", [
    ("", 1), ("收" * 70, 1), ("收" * 71, 2), ("收" * 134, 2), ("收" * 135, 3),
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 159 + "收", 3), ("a" * 69 + "收", 1),
])
def test_segment_count(text, segments):
    assert segment_count(text) == segments


@pytest.mark.parametrize("length", [10, 70, 134, 135, 400])
def test_fit_keeps_chinese_replies_to_two_segments(length):
    text = "收" * length
    cut = fit(text)
    assert segment_count(cut) <= 2 and len(cut) <= 134
    if length <= 134:
        assert cut == text
    else:
        assert cut.endswith("…") and len(cut) == 134


def test_fit_one_segment():
    assert len(fit("收" * 100, 1)) == 70 and segment_count(fit("收" * 100, 1)) == 1
    ascii_cut = fit("ok " * 200, 2)
    assert ascii_cut.endswith("...") and len(ascii_cut) == 306 and segment_count(ascii_cut) == 2


FORM = {"MessageSid": "SM" + "a" * 32, "From": "+8613812345678", "To": "+8610690000", "Body": "初报 洪涝 转移30"}


def check(app, form: dict, signature: str | None, path: str = "/sms/inbound") -> bool:
    with app.test_request_context(path, method="POST", data=form,
                                  headers={"X-Twilio-Signature": signature} if signature else {}):
        return signature_valid(path, request.form, request.headers.get("X-Twilio-Signature"))


def test_signature_valid(app):
    assert check(app, FORM, sign(PUBLIC_BASE_URL + "/sms/inbound", FORM, AUTH_TOKEN))


@pytest.mark.parametrize("case", ["wrong token", "changed body", "missing", "other path", "empty"])
def test_signature_invalid(case, app):
    good = sign(PUBLIC_BASE_URL + "/sms/inbound", FORM, AUTH_TOKEN)
    if case == "wrong token":
        assert not check(app, FORM, sign(PUBLIC_BASE_URL + "/sms/inbound", FORM, "not-the-token"))
    elif case == "changed body":
        assert not check(app, {**FORM, "Body": "初报 洪涝 转移3000"}, good)
    elif case == "missing":
        assert not check(app, FORM, None)
    elif case == "other path":
        assert not check(app, FORM, good, path="/sms/status")
    else:
        assert not check(app, FORM, "")
