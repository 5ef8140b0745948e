"""`flask shelters import PATH [--datum]` and `flask shelters export [--division CODE]` (SPEC §8.1)."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

from core.extensions import db
from core.importing import ImportProblems
from core.models import Division
from shelters.importer import export_collection, import_shelters

shelters_cli = AppGroup("shelters", help="The emergency shelter registry (应急避难场所).")


@shelters_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--datum", type=click.Choice(["gcj02", "wgs84"]), default="wgs84", show_default=True,
              help="datum of the file's coordinates (GeoJSON is WGS84 by RFC 7946); stored as WGS84")
def import_command(path: str, datum: str) -> None:
    """Import shelters from GeoJSON (.geojson/.json) or CSV; all-or-nothing, idempotent on code."""
    try:
        counts = import_shelters(path, datum)
    except ImportProblems as problems:
        click.echo(str(problems), err=True)
        sys.exit(1)
    click.echo(f"shelters: {counts['created']} created, {counts['updated']} updated")


@shelters_cli.command("export")
@click.option("--division", default=None, help="only shelters in this division and below")
@click.option("--exercise", type=int, default=None, help="drill occupancy of this exercise")
def export_command(division: str | None, exercise: int | None) -> None:
    """Print every shelter as a GeoJSON FeatureCollection (RFC 7946, WGS84)."""
    chosen = None
    if division:
        chosen = db.session.get(Division, division)
        if chosen is None:
            click.echo(f"division {division} is not imported", err=True)
            sys.exit(1)
    click.echo(json.dumps(export_collection(chosen, exercise), ensure_ascii=False, indent=1))
