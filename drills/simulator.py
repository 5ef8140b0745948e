"""The simulated drill runner: plays the plan through the real HTTP path, like Twilio would.

Every message is a form POSTed to `<url>/sms/inbound`, signed with the server's
TWILIO_AUTH_TOKEN over PUBLIC_BASE_URL + "/sms/inbound" (what the server checks), and the reply
is read back from the TwiML. Nothing is written to the reports, incidents or escalations
tables from here: the server does that, exactly as in a flood.

What the runner has to learn at run time it reads from the database it shares with the
server (it runs as `flask drill run` inside the app): the ids of the escalations the server
opened, so the simulated responder can answer `收到 E17` as a real one reads it off their SMS,
and the reminders (E5) that wake up silent villages. Reading them from the database rather
than from the SMS gateway works with every SMS backend (console, Twilio, the test fake).

Scenario time runs `speed` times faster than the wall clock; the exercise stores the speed and
the wall-clock start so the evaluation converts stored times back to scenario time.
"""

from __future__ import annotations

import heapq
import html
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

import urllib3
from flask import current_app
from sqlalchemy import select, update

from core.exercises import Exercise
from core.extensions import db
from core.models import ApiToken, utcnow
from core.people import _token_hash, by_phone, create_token
from core.roles import OFFICER_ROLES
from dispatch.models import Escalation
from drills.roster import PhoneBook
from drills.scenario import Action, Plan
from messaging.gateway import sign
from reporter.models import CaseStatus, Event

REPLY_RE = re.compile(r"<Message[^>]*>(.*?)</Message>", re.S)
POLL_SECONDS = 0.5


@dataclass
class Stats:
    planned: int = 0
    sent: int = 0
    replies: int = 0
    errors: int = 0
    unprefixed: int = 0
    acks: int = 0
    reminded: int = 0
    wall_seconds: float = 0.0
    error_examples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict:
        keys = ("planned", "sent", "replies", "errors", "unprefixed", "acks", "reminded", "wall_seconds")
        return {k: getattr(self, k) for k in keys} | {"error_examples": self.error_examples[:10]}


def twiml_reply(text: str) -> str | None:
    match = REPLY_RE.search(text or "")
    return html.unescape(match.group(1)).strip() if match else None


class Runner:
    def __init__(self, exercise: Exercise, plan: Plan, book: PhoneBook, *, base_url: str, speed: float,
                 concurrency: int = 8, shelter_phones: dict[str, str] | None = None, progress: bool = True,
                 timeout: float = 30.0) -> None:
        config = current_app.config
        self.exercise, self.plan, self.book = exercise, plan, book
        self.base_url = base_url.rstrip("/")
        self.inbound_url = self.base_url + "/sms/inbound"
        self.signed_url = config["PUBLIC_BASE_URL"] + "/sms/inbound"
        self.auth_token, self.to_number = config["TWILIO_AUTH_TOKEN"], config.get("TWILIO_FROM") or ""
        self.account_sid = config["TWILIO_ACCOUNT_SID"]
        self.speed, self.concurrency = float(speed), max(1, concurrency)
        self.shelter_phones = shelter_phones or {}
        self.show_progress = progress
        self.stats = Stats(planned=len(plan.timed()))
        # urllib3 itself, one pool shared by the sending threads: a requests Session costs about
        # twice its CPU per call (1.3-1.4 against 0.6-0.7 ms on 2026-12-08), and the simulator
        # shares the machine with the service it measures.
        self._http = urllib3.PoolManager(maxsize=self.concurrency, retries=False,
                                         timeout=urllib3.Timeout(total=timeout))
        self._seq = 0
        self._heap: list[tuple[float, int, Action]] = []
        self._slots = threading.BoundedSemaphore(self.concurrency * 2)
        self._seen_escalation = 0
        self._inflight = 0
        self._inflight_lock = threading.Lock()
        self._woken: set[str] = set()
        self._reminded = {code for code, b in plan.behaviour.items() if b == "reminded"}
        # indexes: a province drill has tens of thousands of actions and thousands of escalations
        self._on_reminder: dict[str, list[Action]] = {}
        for action in plan.actions:
            if action.on_reminder:
                self._on_reminder.setdefault(action.ref, []).append(action)
        self._delays = {r.division_code: r.delay for r in plan.responders}
        self._daily_marked: set[int] = set()
        self._office_tokens: dict[str, str] = {}

    # ---- clock -------------------------------------------------------------------------
    def scenario_now(self) -> float:
        return (time.monotonic() - self._t0) * self.speed

    def scenario_at(self, moment: datetime) -> float:
        return (moment - self.start_wall).total_seconds() * self.speed

    def _push(self, action: Action) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (action.at, self._seq, action))

    # ---- sending (worker threads; no database here) ------------------------------------
    def phone_for(self, action: Action) -> str | None:
        if action.actor in OFFICER_ROLES:
            phones = self.book.officers.get(action.ref, {})
            return phones.get(action.actor) or phones.get("officer_a")
        if action.actor == "responder":
            phones = self.book.responders.get(action.ref) or []
            return phones[0] if phones else None
        return self.shelter_phones.get(action.ref)

    def _send(self, action: Action, sid: str) -> None:
        try:
            phone = self.phone_for(action)
            if phone is None:
                self._error(f"{action.ref}: nobody plays {action.actor}")
                return
            form = {"MessageSid": sid, "AccountSid": self.account_sid, "From": phone, "To": self.to_number,
                    "Body": action.body, "NumSegments": "1"}
            headers = {"X-Twilio-Signature": sign(self.signed_url, form, self.auth_token)}
            try:
                response = self._http.request("POST", self.inbound_url, fields=form, encode_multipart=False,
                                              headers=headers)
            except urllib3.exceptions.HTTPError as exc:
                self._error(f"{sid}: {type(exc).__name__}: {exc}"[:200])
                return
            status = response.status
            reply = twiml_reply(response.data.decode("utf-8", errors="replace")) if status == 200 else None
            with self.stats.lock:
                self.stats.sent += 1
                if action.kind == "ack":
                    self.stats.acks += 1
                if status != 200:
                    self.stats.errors += 1
                    self.stats.error_examples.append(f"{sid}: HTTP {status}")
                elif reply is None:
                    self.stats.errors += 1
                    self.stats.error_examples.append(f"{sid}: no <Message> in the reply")
                else:
                    self.stats.replies += 1
                    if not reply.startswith("【演练】"):
                        self.stats.unprefixed += 1
        finally:
            with self._inflight_lock:
                self._inflight -= 1
            self._slots.release()

    def _due_left(self) -> bool:
        # a heap's smallest item is first: something is still due iff that one is
        return bool(self._heap) and self._heap[0][0] <= self.plan.duration

    def _error(self, text: str) -> None:
        with self.stats.lock:
            self.stats.errors += 1
            self.stats.error_examples.append(text)

    # ---- what the server did (main thread, database) ------------------------------------
    def _poll(self) -> None:
        """Schedule acknowledgements for new escalations and wake villages that got a reminder."""
        db.session.rollback()  # a fresh snapshot: the server commits in other processes
        rows = db.session.execute(
            select(Escalation.id, Escalation.rule, Escalation.level, Escalation.division_code,
                   Escalation.village_code, Escalation.created_at)
            .where(Escalation.exercise_id == self.exercise.id, Escalation.id > self._seen_escalation)
            .order_by(Escalation.id)).all()
        for esc_id, rule, level, division_code, village_code, created_at in rows:
            self._seen_escalation = max(self._seen_escalation, esc_id)
            created = self.scenario_at(created_at)
            if rule == "E5":
                if village_code in self._reminded and village_code not in self._woken:
                    self._woken.add(village_code)
                    self.stats.reminded += 1
                    for action in self._on_reminder.get(village_code, []):
                        self._push(Action(created + action.at, action.actor, action.ref, action.body,
                                          action.kind, action.slip))
                continue
            if rule in ("E1", "E2", "E3", "E4") and level in ("township", "county"):
                delay = self._delays.get(division_code)
                if delay is not None:
                    self._push(Action(created + delay, "responder", division_code, f"演练 收到 E{esc_id}", "ack"))

    def _daily_report(self) -> None:
        """Play the county office: turn on daily reporting for the drill's open events, through
        the API as a person at the board would (`POST /api/v1/events/<id>/daily-report`)."""
        events = db.session.execute(select(Event.id, Event.county_code).where(
            Event.exercise_id == self.exercise.id, Event.status == CaseStatus.OPEN,
            Event.daily_report.is_(False))).all()
        for event_id, county_code in events:
            if event_id in self._daily_marked:
                continue
            token = self._office_tokens.get(county_code)
            if token is None:
                phones = self.book.responders.get(county_code) or []
                person = by_phone(phones[0]) if phones else None
                if person is None:
                    self._error(f"event {event_id}: nobody plays the county office of {county_code}")
                    self._daily_marked.add(event_id)
                    continue
                token = self._office_tokens[county_code] = create_token(person)
                db.session.commit()
            try:
                response = self._http.request("POST", f"{self.base_url}/api/v1/events/{event_id}/daily-report",
                                              json={"on": True}, headers={"Authorization": f"Bearer {token}"})
                outcome = response.status
            except urllib3.exceptions.HTTPError as exc:
                outcome = exc
            self._daily_marked.add(event_id)
            if outcome != 200:
                self._error(f"event {event_id}: daily-report refused: {outcome}")

    def _revoke_tokens(self) -> None:
        """The tokens made to play the county office die with the drill (they may be real people's)."""
        if self._office_tokens:
            db.session.rollback()
            hashes = [_token_hash(t) for t in self._office_tokens.values()]
            db.session.execute(update(ApiToken).where(ApiToken.token_hash.in_(hashes)).values(revoked=True))
            db.session.commit()

    # ---- the loop ------------------------------------------------------------------------
    def run(self) -> Stats:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        for action in self.plan.timed():
            self._push(action)
        settings = dict(self.exercise.settings or {})
        self._t0 = time.monotonic()
        self.start_wall = utcnow()
        settings.update({"speed": self.speed, "scenario_start": self.start_wall.isoformat(),
                         "duration": self.plan.duration})
        self.exercise.settings = settings
        db.session.commit()
        progress = Progress(TextColumn("[bold]演练[/] {task.fields[clock]}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("sent {task.fields[sent]} · replies {task.fields[replies]} · "
                                       "errors {task.fields[errors]}"),
                            console=Console(stderr=True), disable=not self.show_progress, transient=False)
        n = 0
        next_poll = 0.0
        with progress, ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            task = progress.add_task("drill", total=self.stats.planned, clock="00:00", sent=0, replies=0, errors=0)
            while True:
                now = self.scenario_now()
                if time.monotonic() >= next_poll:
                    self._poll()
                    if self.plan.daily_report_at is not None and now >= self.plan.daily_report_at:
                        self._daily_report()
                    next_poll = time.monotonic() + POLL_SECONDS
                # send what is due, but come back to poll even when the server falls behind
                while self._heap and self._heap[0][0] <= now and time.monotonic() < next_poll:
                    _at, _seq, action = heapq.heappop(self._heap)
                    self._slots.acquire()
                    n += 1
                    with self._inflight_lock:
                        self._inflight += 1
                    pool.submit(self._send, action, f"SMdrill{self.exercise.id:06d}x{n:07d}")
                    if not action.on_reminder and action.kind != "ack":
                        progress.advance(task)
                    now = self.scenario_now()
                s = self.stats
                progress.update(task, clock=f"{int(now // 3600):02d}:{int(now % 3600 // 60):02d}",
                                sent=s.sent, replies=s.replies, errors=s.errors)
                if now >= self.plan.duration and not self._due_left():
                    # the last answers may have opened escalations still to acknowledge
                    if self._inflight == 0:
                        self._poll()
                        if not self._due_left():
                            break
                    time.sleep(0.05)
                    continue
                upcoming = self._heap[0][0] if self._heap else now + 1
                time.sleep(min(POLL_SECONDS, max(0.0, (upcoming - now) / self.speed), 0.05 if self._heap else 0.2))
        self._revoke_tokens()
        self.stats.wall_seconds = round(time.monotonic() - self._t0, 2)
        settings = dict(self.exercise.settings or {})
        settings["stats"] = self.stats.as_dict()
        self.exercise.settings = settings
        db.session.commit()
        return self.stats

