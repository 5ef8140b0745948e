"""Kernel CLI commands (`flask --app wsgi ...`, SPEC §8.1)."""

from __future__ import annotations

import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from core import audit, divisions, people
from core.extensions import db
from core.importing import ImportProblems
from core.models import utcnow
from core.queue import start_worker

divisions_cli = AppGroup("divisions", help="Import the division list and county outlines.")
people_cli = AppGroup("people", help="People (officers, responders, offices): import, duty, backups.")
tokens_cli = AppGroup("tokens", help="API bearer tokens: create, list, revoke.")
audit_cli = AppGroup("audit", help="The hash-chained audit log.")
demo_cli = AppGroup("demo", help="Demo data for a newcomer to click through.")
DATUM = click.Choice(["gcj02", "wgs84"])


def fail(problems: ImportProblems) -> None:
    click.echo(str(problems), err=True)
    sys.exit(1)


@divisions_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--datum", type=DATUM, default="gcj02", show_default=True,
              help="datum of the file's lon/lat; stored as WGS84")
def divisions_import(path: str, datum: str) -> None:
    started = time.perf_counter()
    try:
        counts = divisions.import_divisions(path, datum)
    except ImportProblems as problems:
        fail(problems)
    total = sum(counts.values())
    click.echo(f"imported {total} divisions ({', '.join(f'{k} {v}' for k, v in counts.items())}) "
               f"in {time.perf_counter() - started:.1f} s")


@divisions_cli.command("boundaries")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--datum", type=DATUM, default="gcj02", show_default=True)
@click.option("--skip-unknown", is_flag=True, help="pass over files of divisions not imported")
def divisions_boundaries(paths: tuple[str, ...], datum: str, skip_unknown: bool) -> None:
    try:
        count = divisions.import_boundaries(list(paths), datum, skip_unknown)
    except ImportProblems as problems:
        fail(problems)
    click.echo(f"imported {count} county outlines")


@people_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
def people_import(path: str) -> None:
    try:
        counts = people.import_people(path)
    except ImportProblems as problems:
        fail(problems)
    click.echo(f"people: {counts['created']} created, {counts['updated']} updated")


@people_cli.command("backup")
@click.argument("phone")
@click.argument("backup_phone", required=False)
@click.option("--clear", is_flag=True, help="remove PHONE's backup")
def people_backup(phone: str, backup_phone: str | None, clear: bool) -> None:
    """Name BACKUP_PHONE as PHONE's backup: told in PHONE's place while PHONE is off duty."""
    person = people.by_phone(phone)
    backup = people.by_phone(backup_phone) if backup_phone else None
    if person is None or (backup_phone and backup is None) or (backup is None and not clear):
        click.echo("usage: flask people backup PHONE BACKUP_PHONE | flask people backup PHONE --clear "
                   "(both phones of active people)", err=True)
        sys.exit(1)
    try:
        change = people.set_backup(person, backup)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    audit.record("person.backup", "person", person.id, actor="cli", **change)
    db.session.commit()
    click.echo(f"{person.name}: backup {backup.name} {backup.phone}" if backup else f"{person.name}: no backup")


@people_cli.command("duty")
@click.argument("phone")
@click.argument("state", type=click.Choice(["on", "off"]))
def people_duty(phone: str, state: str) -> None:
    """Put PHONE on or off duty (off duty: skipped, or replaced by their backup)."""
    person = people.by_phone(phone)
    if person is None:
        click.echo(f"no active person with phone {phone}", err=True)
        sys.exit(1)
    before = {"on_duty": person.on_duty}
    person.on_duty = state == "on"
    audit.record("person.duty", "person", person.id, actor="cli", before=before, after={"on_duty": person.on_duty})
    db.session.commit()
    click.echo(f"{person.name}: {'on' if person.on_duty else 'off'} duty")


@tokens_cli.command("create")
@click.argument("phone")
@click.option("--label", default=None, help="who or what will hold the token, e.g. 'city dashboard'")
@click.option("--expires", "expires_days", type=click.FloatRange(min=0, min_open=True), default=None,
              help="days until it stops working [default: until revoked]")
def tokens_create(phone: str, label: str | None, expires_days: float | None) -> None:
    """Create an API bearer token for the active person with PHONE; prints it (last line) once.

    The token acts with that person's role and scope. Only its hash is stored: keep it safe,
    and revoke it (`flask tokens revoke ID`) when it is no longer needed."""
    person = people.by_phone(phone)
    if person is None:
        click.echo(f"no active person has the phone {phone}", err=True)
        sys.exit(1)
    token = people.create_token(person, label=label, expires_days=expires_days)
    click.echo(f"token for {person.name} ({person.role}, {person.division_code}):")
    click.echo(token)


@tokens_cli.command("list")
def tokens_list() -> None:
    """List every token: id, holder, label, created, expiry and state (never the token itself)."""
    now = utcnow()
    for row in people.tokens():
        state = ("revoked" if row.revoked else
                 "expired" if row.expires_at is not None and row.expires_at <= now else "active")
        expires = row.expires_at.strftime("%Y-%m-%d %H:%M UTC") if row.expires_at else "never"
        click.echo(f"{row.id}\t{row.person.name}\t{row.person.phone}\t{row.label or '-'}\t"
                   f"{row.created_at:%Y-%m-%d}\t{expires}\t{state}")


@tokens_cli.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID (from `flask tokens list`): it stops working at once."""
    row = people.revoke_token(token_id)
    if row is None:
        click.echo(f"no token {token_id}", err=True)
        sys.exit(1)
    audit.record("token.revoke", "api_token", row.id, actor="cli", after={"person_id": row.person_id})
    db.session.commit()
    click.echo(f"revoked token {row.id} of {row.person.name}")


@audit_cli.command("anchor")
def audit_anchor() -> None:
    """Print `seq:hash` of the newest chained entry, to publish outside the database."""
    audit.chain_all()
    value = audit.anchor()
    if value is None:
        click.echo("the audit chain is empty", err=True)
        sys.exit(1)
    click.echo(value)


@audit_cli.command("verify")
@click.option("--anchor", "anchors", multiple=True, metavar="SEQ:HASH",
              help="an anchor published earlier (`flask audit anchor`); repeatable")
def audit_verify(anchors: tuple[str, ...]) -> None:
    audit.chain_all()  # entries committed but not yet chained by the worker's sweep
    problems = audit.verify()
    try:
        for published in anchors:
            problems += audit.check_anchor(published)
    except ValueError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    waiting = audit.unchained()
    if waiting:  # still inside an open transaction: not tampering, chained once committed
        click.echo(f"{waiting} entries not yet chained (their transaction is still open)", err=True)
    if problems:
        for line in problems:
            click.echo(line, err=True)
        click.echo("audit chain BROKEN", err=True)
        sys.exit(1)
    click.echo("audit chain intact")


@demo_cli.command("load")
def demo_load() -> None:
    from core import demo

    for line in demo.load():
        click.echo(line)


@click.command("worker")
@click.option("--burst", is_flag=True, help="drain the queues and exit")
@click.option("--name", default=None)
def worker(burst: bool, name: str | None) -> None:
    """Everything that runs in the background: RQ worker + scheduler on all queues, and sweeps."""
    start_worker(current_app._get_current_object(), burst=burst, name=name)


def init_app(app: Flask) -> None:
    for group in (divisions_cli, people_cli, tokens_cli, audit_cli, demo_cli):
        app.cli.add_command(group)
    app.cli.add_command(worker)
