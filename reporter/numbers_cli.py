"""`flask numbers assign|remove|list`: the inbound numbers divisions own (reporter.numbers)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from core.extensions import db
from reporter import numbers
from reporter.models import InboundNumber

numbers_cli = AppGroup("numbers", help="Inbound numbers (or 扩展码) owned by divisions: strangers' SMS to "
                                       "them go to that division's review queue.")


@numbers_cli.command("assign")
@click.argument("number")
@click.argument("division_code")
@click.option("--note", default=None, help="what the number is, e.g. 县应急局值班短信")
def numbers_assign(number: str, division_code: str, note: str | None) -> None:
    """Give DIVISION_CODE the inbound NUMBER (a phone number, service number or 扩展码)."""
    try:
        row = numbers.assign(number, division_code, actor="cli", note=note)
    except numbers.NumberProblem as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"{row.number}\t{row.division_code}\t{row.division.name}")


@numbers_cli.command("remove")
@click.argument("number")
def numbers_remove(number: str) -> None:
    """Take NUMBER away from its division."""
    try:
        numbers.remove(number, actor="cli")
    except numbers.NumberProblem as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    db.session.commit()
    click.echo(f"removed {numbers.normalise_number(number)}")


@numbers_cli.command("list")
def numbers_list() -> None:
    """Every inbound number and the division that owns it."""
    for row in db.session.scalars(select(InboundNumber).order_by(InboundNumber.division_code, InboundNumber.number)):
        click.echo(f"{row.number}\t{row.division_code}\t{row.division.name}\t{row.note or '-'}")
