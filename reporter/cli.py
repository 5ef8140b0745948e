"""`flask intake`: run the intake processor on its own, and see its backlog."""

from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from reporter import processing
from reporter.service import intake_backlog

intake = AppGroup("intake", help="The intake processor: SMS reports stored by the webhook, filed in batches.")


@intake.command("run")
@click.option("--once", is_flag=True, help="File what is waiting now, then exit.")
def run(once: bool) -> None:
    """Run one processor in this process until SIGTERM/SIGINT (or, with --once, until idle).

    `flask worker` already runs INTAKE_PROCESSORS of them; add these for a burst (about one per core).
    """
    if once:
        click.echo(f"filed {processing.drain()} messages")
        return
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _s, _f: stop.set())
    processing.run_forever(current_app._get_current_object(), stop)


@intake.command("status")
def status() -> None:
    """How many stored SMS reports wait to be filed, and since when."""
    count, oldest = intake_backlog()
    click.echo(f"waiting: {count}" + (f", oldest received {oldest.isoformat()}" if oldest else ""))
