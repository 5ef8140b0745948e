"""People: phone normalisation, CSV import, API tokens, look-up by phone."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from pathlib import Path

import phonenumbers
from sqlalchemy import or_, select
from werkzeug.security import generate_password_hash

from core import audit
from core.extensions import db
from core.importing import ImportProblems, read_csv, refresh_planner_statistics
from core.models import LEVELS, ApiToken, Division, Person, utcnow
from core.roles import ROLE_LEVEL, ROLES
from core.scope import can_access


class BadPhone(ValueError):
    pass


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 from what people write: `13812345678`, `+86 138 1234 5678`, `0086…` → `+8613812345678`."""
    text = (raw or "").strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise BadPhone(f"{raw!r} is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise BadPhone(f"{raw!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def try_normalise_phone(raw: str) -> str | None:
    try:
        return normalise_phone(raw)
    except BadPhone:
        return None


def stored_phone(phone: str) -> str:
    """A phone as `people.phone` stores it (E.164 when it can be read as a number)."""
    return try_normalise_phone(phone) or phone


def by_phone(phone: str) -> Person | None:
    """The active person with this phone (any spelling), or None."""
    return db.session.scalar(select(Person).where(Person.phone == stored_phone(phone), Person.active.is_(True)))


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def import_people(path: str | Path) -> dict[str, int]:
    """Import `name,phone,role,division_code[,on_duty][,password][,backup_phone]`. All-or-nothing.

    A row whose phone belongs to an active person updates that person (re-import is
    idempotent); a new phone creates a person. `backup_phone` names who is told in that person's
    place while they are off duty (someone in the file or already active; `set_backup`'s rules);
    an empty one leaves the backup as it is. Each backup set is audited.
    """
    problems = ImportProblems(str(path))
    parsed: list[tuple[int, dict]] = []
    seen: dict[str, int] = {}
    divisions = {c: lvl for c, lvl in db.session.execute(select(Division.code, Division.level))}
    for line, row in read_csv(path, ("name", "phone", "role", "division_code")):
        if not row["name"] or len(row["name"]) > 100:
            problems.add(line, "name is empty" if not row["name"]
                         else f"name is longer than 100 characters ({len(row['name'])})")
            continue
        try:
            phone = normalise_phone(row["phone"])
        except BadPhone as exc:
            problems.add(line, str(exc))
            continue
        if phone in seen:
            problems.add(line, f"phone {phone} appears twice (first on line {seen[phone]})")
            continue
        role = row["role"].lower()
        if role not in ROLES:
            problems.add(line, f"unknown role {row['role']!r}; expected one of {', '.join(ROLES)}")
            continue
        level = divisions.get(row["division_code"])
        if level is None:
            problems.add(line, f"division {row['division_code']!r} is not imported")
            continue
        if role in ROLE_LEVEL and ROLE_LEVEL[role] != level:
            problems.add(line, f"the role {role} must sit on a {ROLE_LEVEL[role]}, not on a {level}")
            continue
        on_duty_text = (row.get("on_duty") or "1").lower()
        if on_duty_text not in ("1", "0", "true", "false", "yes", "no", "y", "n"):
            problems.add(line, f"on_duty {row.get('on_duty')!r} is not 1/0/true/false")
            continue
        backup_phone = None
        if row.get("backup_phone"):
            try:
                backup_phone = normalise_phone(row["backup_phone"])
            except BadPhone as exc:
                problems.add(line, f"backup_phone: {exc}")
                continue
        seen[phone] = line
        parsed.append((line, {"name": row["name"], "phone": phone, "role": role,
                              "division_code": row["division_code"],
                              "on_duty": on_duty_text in ("1", "true", "yes", "y"),
                              "password": row.get("password") or None, "backup_phone": backup_phone}))
    if problems:
        raise problems
    existing = {p.phone: p for p in db.session.scalars(select(Person).where(Person.active.is_(True)))}
    created = updated = 0
    backups: list[tuple[int, Person, str]] = []
    for line, data in parsed:
        password = data.pop("password")
        backup_phone = data.pop("backup_phone")
        person = existing.get(data["phone"])
        if person is None:
            person = Person(**data)
            db.session.add(person)
            created += 1
        else:
            for key, value in data.items():
                setattr(person, key, value)
            updated += 1
        if password:
            person.password_hash = hash_password(password)
        existing[person.phone] = person
        if backup_phone:
            backups.append((line, person, backup_phone))
    _import_backups(problems, backups, existing)
    refresh_planner_statistics(Person)
    return {"created": created, "updated": updated}


def _import_backups(problems: ImportProblems, backups: list[tuple[int, Person, str]],
                    people: dict[str, Person]) -> None:
    """Set the file's backups once everyone in it exists; any problem undoes the whole import."""
    db.session.flush()  # ids and divisions for the people the file creates
    changes = []
    for line, person, backup_phone in backups:
        backup = people.get(backup_phone)
        if backup is None:
            problems.add(line, f"backup_phone {backup_phone} is nobody active, in this file or before")
            continue
        try:
            changes.append((person, set_backup(person, backup)))
        except ValueError as exc:
            problems.add(line, f"backup_phone: {exc}")
    if problems:
        db.session.rollback()
        raise problems
    for person, change in changes:
        if change["before"] != change["after"]:
            audit.record("person.backup", "person", person.id, actor="import", **change)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(person: Person, label: str | None = None, expires_days: float | None = None) -> str:
    """Create an API bearer token; only its hash is stored, the token is shown once."""
    token = "zb_" + secrets.token_urlsafe(32)
    expires_at = utcnow() + timedelta(days=expires_days) if expires_days else None
    db.session.add(ApiToken(person_id=person.id, token_hash=_token_hash(token),
                            label=(label or "").strip()[:100] or None, expires_at=expires_at))
    db.session.commit()
    return token


def person_for_token(token: str) -> Person | None:
    """The person a bearer token speaks for: not revoked, not expired, the person still active."""
    row = db.session.scalar(select(ApiToken).where(
        ApiToken.token_hash == _token_hash(token), ApiToken.revoked.is_(False),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > utcnow())))
    if row is None or not row.person.active:
        return None
    return row.person


def tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.id)))


def revoke_token(token_id: int) -> ApiToken | None:
    """Mark the token revoked (the caller audits and commits); None when there is no such token."""
    row = db.session.get(ApiToken, token_id)
    if row is not None:
        row.revoked = True
    return row


def set_backup(person: Person, backup: Person | None) -> dict:
    """Name (or clear, with None) the deputy told in `person`'s place while they are off duty.
    Returns the audit's before/after; the caller records and commits.

    The backup must be an active responder whose scope holds the person's division (their own
    division or one above), so they may see and acknowledge what they are told; not an
    officer (officers A/B already back each other up for E5), and not the person themselves.
    """
    if backup is not None:
        if backup.id == person.id:
            raise ValueError("a person cannot be their own backup")
        if not backup.active or not backup.is_staff:
            raise ValueError(f"{backup.name} is not an active responder")
        if not can_access(backup, person.division):
            raise ValueError(f"{backup.name} ({backup.division.name}) cannot see {person.division.name}")
    before = {"backup_id": person.backup_id}
    person.backup_id = backup.id if backup is not None else None
    return {"before": before, "after": {"backup_id": person.backup_id}}


def level_rank(level: str) -> int:
    return LEVELS.index(level)
