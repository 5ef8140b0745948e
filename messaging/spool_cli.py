"""`flask spool replay|status`: the webhook spool kept while the database was down or hung (SPEC §9)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from messaging import spool

spool_cli = AppGroup("spool", help="Webhooks (SMS, delivery receipts) spooled while the database was down.")


@spool_cli.command("replay")
def replay() -> None:
    """Replay every spooled webhook exactly once (idempotent by MessageSid)."""
    counts = spool.replay()
    click.echo(f"replayed {counts['replayed']} messages from {counts['files']} files"
               + (f"; {counts['bad_lines']} unreadable lines kept" if counts["bad_lines"] else ""))
    left = spool.pending_count()
    if left:
        click.echo(f"{left} messages still waiting (database unreachable?)", err=True)
        raise SystemExit(1)


@spool_cli.command("status")
def status() -> None:
    click.echo(f"{spool.pending_count()} messages waiting in the spool")
