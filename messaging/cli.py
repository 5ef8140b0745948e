"""`flask sms send`: play the gateway from the command line (SPEC §8.1); `flask sms templates`."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from core.exercises import DRILL_PREFIX
from messaging.sms_client import SmsClientError, send_inbound
from messaging.templates import DRILL_SUFFIX, all_templates, example_map

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


@sms_cli.command("templates")
@click.option("--example", is_flag=True, help="print a complete SMS_TEMPLATES map (JSON) to fill in")
def sms_templates(example: bool) -> None:
    """List every SMS template: its name, text and variables (what a provider must approve)."""
    if example:
        click.echo(json.dumps(example_map(), ensure_ascii=False, indent=2))
        return
    for template in all_templates():
        click.echo(f"{template.name}  ({template.doc})" if template.doc else template.name)
        click.echo(f"  aliyun:  {template.provider_text('aliyun')}")
        click.echo(f"  tencent: {template.provider_text('tencent')}")
        click.echo(f"  variables: {', '.join(template.variables) or '(none)'}")
    click.echo(f"Each also has a drill twin <name>{DRILL_SUFFIX}: the same text after {DRILL_PREFIX}.")
