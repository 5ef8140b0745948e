"""Local fakes of Aliyun's and Tencent Cloud's SendSms APIs: real HTTP servers that the providers'
real SDKs talk to (point ALIYUN_SMS_ENDPOINT / TENCENT_SMS_ENDPOINT at `server.url`), as
`tests/fake_twilio.py` does for Twilio.

Aliyun (dysmsapi 2017-05-25, RPC style): the SDK posts the parameters in the query string and
reads `{"Code", "Message", "BizId", "RequestId"}`; business errors come back as HTTP 200 with a
Code other than "OK" (`isv.BUSINESS_LIMIT_CONTROL` throttled, `isv.MOBILE_NUMBER_ILLEGAL`).
Tencent (sms 2021-01-11, TC3): the SDK posts JSON with `X-TC-Action: SendSms` and reads
`{"Response": {"SendStatusSet": [{"SerialNo", "PhoneNumber", "Code", "Message", …}], "RequestId"}}`,
a per-number Code other than "Ok" for a refused number (`LimitExceeded.…`,
`InvalidParameterValue.IncorrectPhoneNumber`). Both can be told to fail the next N sends or
to refuse given numbers.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Sent:
    to: str
    template: str
    params: dict | list
    sign: str
    sid: str


@dataclass
class Behaviour:
    fail_next: int = 0
    fail_code: str = ""
    bad_numbers: dict[str, str] = field(default_factory=dict)  # number as sent → error code


class _Fake:
    ok_code = ""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.attempts = 0
        self.behaviour = Behaviour()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                payload = fake.handle(self.path, dict(self.headers), raw)
                data = json.dumps(payload, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.sent.clear()
            self.attempts = 0
            self.behaviour = Behaviour()

    def fail(self, times: int, code: str) -> None:
        with self.lock:
            self.behaviour.fail_next, self.behaviour.fail_code = times, code

    def refuse(self, number: str, code: str) -> None:
        with self.lock:
            self.behaviour.bad_numbers[number] = code

    def _outcome(self, to: str) -> str:
        """The answer code for this send: a scheduled failure, a refused number, or success."""
        with self.lock:
            self.attempts += 1
            if self.behaviour.fail_next > 0:
                self.behaviour.fail_next -= 1
                return self.behaviour.fail_code
            return self.behaviour.bad_numbers.get(to, self.ok_code)

    def to(self, number: str) -> list[Sent]:
        with self.lock:
            return [s for s in self.sent if s.to == number]


class FakeAliyun(_Fake):
    ok_code = "OK"

    def handle(self, path: str, headers: dict, raw: bytes) -> dict:
        query = {k: v[0] for k, v in parse_qs(urlsplit(path).query).items()}
        if raw and not query:
            query = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        to = query.get("PhoneNumbers", "")
        code = self._outcome(to)
        if code != "OK":
            return {"Code": code, "Message": "fake refusal", "RequestId": uuid.uuid4().hex}
        biz_id = f"{uuid.uuid4().int % 10**15}^0"
        with self.lock:
            self.sent.append(Sent(to, query.get("TemplateCode", ""), json.loads(query.get("TemplateParam") or "{}"),
                                  query.get("SignName", ""), biz_id))
        return {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": uuid.uuid4().hex}


class FakeTencent(_Fake):
    ok_code = "Ok"

    def handle(self, path: str, headers: dict, raw: bytes) -> dict:
        body = json.loads(raw or b"{}")
        [to] = body.get("PhoneNumberSet") or [""]
        code = self._outcome(to)
        serial = uuid.uuid4().hex[:24]
        status = {"SerialNo": serial if code == "Ok" else "", "PhoneNumber": to, "Fee": 1 if code == "Ok" else 0,
                  "SessionContext": "", "Code": code, "Message": "send success" if code == "Ok" else "fake refusal",
                  "IsoCode": "CN"}
        if code == "Ok":
            with self.lock:
                self.sent.append(Sent(to, body.get("TemplateId", ""), body.get("TemplateParamSet") or [],
                                      body.get("SignName", ""), serial))
        return {"Response": {"SendStatusSet": [status], "RequestId": uuid.uuid4().hex}}
