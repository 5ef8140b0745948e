"""`flask sms send`: a signed Twilio-style webhook to a running service, reply printed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from config import TestConfig
from core import create_app
from tests.conftest import AUTH_TOKEN, free_port

REPLY = ('<?xml version="1.0" encoding="UTF-8"?>'
         "<Response><Message>已收到初报R1(洪涝 王庄村): 转移30。</Message></Response>")


@contextmanager
def twilio_side(status: int = 200, reply: str = REPLY) -> Iterator[tuple[str, list[dict]]]:
    """A tiny web server standing in for the service: checks the signature like Twilio's
    RequestValidator would, records what it got, answers TwiML."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
            url = f"http://127.0.0.1:{self.server.server_address[1]}{self.path}"
            valid = RequestValidator(AUTH_TOKEN).validate(url, form, self.headers.get("X-Twilio-Signature", ""))
            received.append({"path": self.path, "form": form, "valid": valid})
            data = reply.encode()
            self.send_response(status if valid else 403)
            self.send_header("Content-Type", "text/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def test_sends_a_correctly_signed_webhook_and_prints_the_reply(cli, app):
    with twilio_side() as (base, received):
        result = cli("sms", "send", "138 1234 5678", "初报 洪涝 转移30", "--url", base + "/")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "已收到初报R1(洪涝 王庄村): 转移30。"
    [request] = received
    assert request["valid"] and request["path"] == "/sms/inbound"
    form = request["form"]
    assert (form["From"], form["To"], form["Body"]) == ("+8613812345678", app.config["TWILIO_FROM"], "初报 洪涝 转移30")
    assert form["MessageSid"].startswith("SMtest") and len(form["MessageSid"]) == 34
    assert form["AccountSid"] == app.config["TWILIO_ACCOUNT_SID"]


def test_each_message_gets_a_new_sid_and_body_reply_form_is_read(cli):
    reply = "<Response><Message><Body>第一条</Body></Message><Message>第二条</Message></Response>"
    with twilio_side(reply=reply) as (base, received):
        first = cli("sms", "send", "+8613812345678", "帮助", "--url", base)
        cli("sms", "send", "+8613812345678", "帮助", "--url", base)
    assert first.output.splitlines() == ["第一条", "第二条"]
    assert received[0]["form"]["MessageSid"] != received[1]["form"]["MessageSid"]


def test_non_200_answer_is_a_clear_error(cli):
    with twilio_side(status=500, reply="database on fire") as (base, _received):
        result = cli("sms", "send", "13812345678", "零报告", "--url", base)
    assert result.exit_code == 1
    assert f"{base}/sms/inbound answered HTTP 500: database on fire" in result.output


def test_no_service_listening(cli):
    base = f"http://127.0.0.1:{free_port()}"
    result = cli("sms", "send", "13812345678", "零报告", "--url", base)
    assert result.exit_code == 1 and f"could not reach {base}/sms/inbound" in result.output


def test_bad_phone(cli):
    result = cli("sms", "send", "12345", "零报告", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 1 and "'12345' is not a valid phone number" in result.output


def test_against_the_real_app_served_over_http(cli, app_config, tree, make_person):
    """The service itself, served by werkzeug on a real port, with PUBLIC_BASE_URL set to it.

    Without the reporter's /sms/inbound route the answer is a 404, reported as an error; with
    it, the officer gets the service's reply.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = create_app(TestConfig, {**app_config, "PUBLIC_BASE_URL": base})
    make_person("officer_a", tree.village, phone="+8613812345678")
    server = make_server("127.0.0.1", port, served, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = cli("sms", "send", "13812345678", "帮助", "--url", base)
    finally:
        server.shutdown()
    has_route = any(rule.rule == "/sms/inbound" for rule in served.url_map.iter_rules())
    if has_route:
        assert result.exit_code == 0, result.output
        assert result.output.strip()
    else:
        assert result.exit_code == 1
        assert f"{base}/sms/inbound answered HTTP 404" in result.output
