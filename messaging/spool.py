"""The durable local spool: provider pushes that arrived while the database was down or hung
(SPEC §9) — inbound SMS and delivery receipts alike.

A webhook appends one JSON line per request to `SPOOL_DIR/inbound.jsonl` (write, flush, fsync,
under an exclusive file lock so several gunicorn workers never interleave). Replaying claims the
file by renaming it under the same lock (new requests then start a fresh file), hands each line
to the handler registered for its path (`register_replay`: the reporter's intake for
`/sms/inbound`, the receipts for `/sms/status`; each is idempotent, so a line replayed twice
changes nothing) and moves the claimed file to `done/` only after every line committed. A replay
that stops half-way (database down again, process killed) leaves the claimed file where the next
replay picks it up.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError

from core.extensions import db
from core.models import utcnow
from core.queue import periodic

log = logging.getLogger("zaibao.spool")
ACTIVE = "inbound.jsonl"
# (the request's form, when it arrived) → nothing; idempotent; OperationalError: try again later
ReplayHandler = Callable[[dict, datetime], None]


def register_replay(app: Flask, path: str, handler: ReplayHandler) -> None:
    """Who replays the spooled requests of `path` (each part for its own webhooks)."""
    app.extensions.setdefault("zaibao_spool_handlers", {})[path] = handler


def spool_dir() -> Path:
    path = Path(current_app.config["SPOOL_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def append(form: dict, headers: dict, path: str) -> None:
    """Durably append one raw signed request. Raises OSError when even the disk fails."""
    line = json.dumps({"received_at": utcnow().isoformat(), "path": path, "form": form, "headers": headers},
                      ensure_ascii=False) + "\n"
    target = spool_dir() / ACTIVE
    while True:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            # A replay may have renamed the file between our open and our lock: write to the new one.
            try:
                same = os.fstat(fd).st_ino == os.stat(target).st_ino
            except FileNotFoundError:
                same = False
            if same:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
                return
        finally:
            os.close(fd)


def pending_count() -> int:
    """Lines waiting in the spool (active and claimed files)."""
    total = 0
    for file in pending_files():
        with open(file, encoding="utf-8", errors="replace") as handle:
            total += sum(1 for line in handle if line.strip())
    return total


def pending_files() -> list[Path]:
    base = spool_dir()
    return sorted(base.glob("replay-*.jsonl")) + ([base / ACTIVE] if (base / ACTIVE).exists() else [])


def _claim() -> None:
    """Rename the active file to a claimed one, under its lock, so appends go to a fresh file."""
    base = spool_dir()
    active = base / ACTIVE
    if not active.exists():
        return
    fd = os.open(active, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        if os.fstat(fd).st_size == 0:
            return
        claimed = base / f"replay-{utcnow().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.jsonl"
        os.rename(active, claimed)
    except FileNotFoundError:
        pass
    finally:
        os.close(fd)


def replay() -> dict[str, int]:
    """Replay every spooled request exactly once; returns counts. Safe to run concurrently."""
    _claim()
    handlers = current_app.extensions.get("zaibao_spool_handlers", {})
    counts = {"replayed": 0, "files": 0, "bad_lines": 0}
    base = spool_dir()
    (base / "done").mkdir(exist_ok=True)
    for file in sorted(base.glob("replay-*.jsonl")):
        fd = os.open(file, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another replayer has it
            except BlockingIOError:
                continue
            if not file.exists():
                continue
            with open(file, encoding="utf-8", errors="replace") as handle:
                lines = [line for line in handle if line.strip()]
            for number, line in enumerate(lines, start=1):
                try:
                    entry = json.loads(line)
                    form = {str(k): str(v) for k, v in entry["form"].items()}
                    received_at = datetime.fromisoformat(entry["received_at"])
                    handler = handlers[entry.get("path") or "/sms/inbound"]
                except (ValueError, KeyError, TypeError, AttributeError):
                    log.error("spool %s line %d is not a spooled request; kept in done/ for a person", file, number)
                    counts["bad_lines"] += 1
                    continue
                try:
                    handler(form, received_at)
                except OperationalError:
                    db.session.rollback()
                    log.warning("database still unreachable; spool %s kept for the next replay", file.name)
                    return counts
                counts["replayed"] += 1
            os.rename(file, base / "done" / file.name)
            counts["files"] += 1
        finally:
            os.close(fd)
    return counts


@periodic(30, name="messaging.spool_replay")
def replay_sweep() -> None:
    if pending_files():
        counts = replay()
        if counts["replayed"] or counts["bad_lines"]:
            log.info("spool replay: %s", counts)
