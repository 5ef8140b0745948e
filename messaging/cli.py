"""`flask sms send`: play the gateway from the command line (SPEC §8.1)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from messaging.sms_client import SmsClientError, send_inbound

sms_cli = AppGroup("sms", help="Play Twilio: send an SMS to the running service without a phone.")


@sms_cli.command("send")
@click.argument("phone")
@click.argument("body")
@click.option("--url", default=None, help="base URL of the running service [default: PUBLIC_BASE_URL]")
def sms_send(phone: str, body: str, url: str | None) -> None:
    """Post BODY from PHONE to /sms/inbound as a signed Twilio webhook and print the reply."""
    try:
        replies = send_inbound(phone, body, url)
    except SmsClientError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    for reply in replies:
        click.echo(reply)
    if not replies:
        click.echo("(the service sent no reply)")
