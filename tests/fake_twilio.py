"""A local fake of Twilio's Messages API: a real HTTP server the real `twilio` client talks to.

Used by tests and benchmarks (SPEC §10): point TWILIO_API_BASE at `server.url`. It answers
`POST /2010-04-01/Accounts/<sid>/Messages.json` with 201 and a message JSON, records what it
received, and can be told to fail (429/500/21211) or to be slow. Other processes can read what
it received at `GET /_fake/messages` and steer it with `POST /_fake/config` (JSON).

Run alone: `python -m tests.fake_twilio --port 8099`.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


@dataclass
class Received:
    sid: str
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    at: float

    def as_dict(self) -> dict:
        return {"sid": self.sid, "to": self.to, "body": self.body, "from": self.from_,
                "messaging_service_sid": self.messaging_service_sid,
                "status_callback": self.status_callback, "at": self.at}


@dataclass
class Behaviour:
    delay: float = 0.0                 # seconds before answering (a read timeout if > client's)
    fail_next: int = 0                 # answer the next N requests with fail_status/fail_code
    fail_status: int = 429
    fail_code: int = 20429
    bad_numbers: dict[str, int] = field(default_factory=dict)  # to → Twilio error code (21211)
    delay_then_accept: bool = True     # a delayed request is still recorded as sent


class FakeTwilio:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.messages: list[Received] = []
        self.attempts = 0
        self.behaviour = Behaviour()
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go in separate writes: no 40 ms stall

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _json(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a read timeout): what a slow Twilio looks like

            def do_GET(self) -> None:
                if self.path.startswith("/_fake/messages"):
                    with fake.lock:
                        items = [m.as_dict() for m in fake.messages]
                    self._json(200, {"messages": items, "attempts": fake.attempts})
                else:
                    self._json(404, {"code": 20404, "message": "not found", "status": 404})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.startswith("/_fake/config"):
                    fake.configure(**json.loads(raw or b"{}"))
                    self._json(200, {"ok": True})
                    return
                if self.path.startswith("/_fake/reset"):
                    fake.reset()
                    self._json(200, {"ok": True})
                    return
                if not (self.path.startswith("/2010-04-01/Accounts/") and self.path.endswith("/Messages.json")):
                    self._json(404, {"code": 20404, "message": "not found", "status": 404})
                    return
                form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8")).items()}
                status, payload = fake.handle(form)
                self._json(status, payload)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeTwilio:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self.lock:
            self.messages.clear()
            self.attempts = 0
            self.behaviour = Behaviour()

    def configure(self, **kwargs) -> None:
        with self.lock:
            for key, value in kwargs.items():
                if not hasattr(self.behaviour, key):
                    raise AttributeError(key)
                setattr(self.behaviour, key, value)

    def handle(self, form: dict) -> tuple[int, dict]:
        with self.lock:
            self.attempts += 1
            b = self.behaviour
            if b.fail_next > 0:
                b.fail_next -= 1
                return b.fail_status, {"code": b.fail_code, "message": "fake failure",
                                       "more_info": "", "status": b.fail_status}
            to = form.get("To", "")
            if to in b.bad_numbers:
                code = b.bad_numbers[to]
                return 400, {"code": code, "message": f"The 'To' number {to} is not valid.",
                             "more_info": "", "status": 400}
            delay = b.delay
        if delay:
            time.sleep(delay)
        sid = "SM" + uuid.uuid4().hex
        with self.lock:
            self.messages.append(Received(sid, to, form.get("Body", ""), form.get("From"),
                                          form.get("MessagingServiceSid"),
                                          form.get("StatusCallback"), time.time()))
        return 201, {"sid": sid, "status": "queued", "to": to, "from": form.get("From"),
                     "body": form.get("Body", ""), "num_segments": "1", "direction": "outbound-api",
                     "date_created": None, "date_sent": None, "date_updated": None,
                     "account_sid": "AC" + "0" * 32, "uri": f"/Messages/{sid}.json"}

    def bodies_to(self, phone: str) -> list[str]:
        with self.lock:
            return [m.body for m in self.messages if m.to == phone]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    fake = FakeTwilio(args.host, args.port)
    print(f"fake Twilio on {fake.url}", flush=True)
    fake.server.serve_forever()


if __name__ == "__main__":
    main()
