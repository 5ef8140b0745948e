"""`flask drill …`: start / end / archive an exercise, run a simulated drill, write its report."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import click
import requests
from flask import current_app
from flask.cli import AppGroup

from core.divisions import descendants_clause
from core.exercises import ExerciseStatus
from core.extensions import db
from core.models import Division, Person
from core.pdf import html_to_pdf
from drills import evaluation, flows, roster, service
from drills.scenario import Shelter, build_plan
from drills.service import ExerciseError
from drills.simulator import Runner
from shelters.models import Shelter as ShelterRow
from shelters.rules import ShelterStatus

drill_cli = AppGroup("drill", help="Drills (应急演练): exercises, simulated drills, evaluation reports.")
SCENARIO = click.Choice(list(service.SCENARIOS))


def _die(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def _division(code: str | None, wanted: str | None) -> Division:
    if not code:
        _die("give the area: --county CODE, --division CODE (or --province CODE for a run)")
    division = db.session.get(Division, code)
    if division is None:
        _die(f"no division {code}: import the division list first (flask divisions import PATH)")
    if wanted and division.level != wanted:
        _die(f"{code} {division.name} is a {division.level}, not a {wanted}")
    return division


def _exercise(exercise_id: int):
    exercise = service.get(exercise_id)
    if exercise is None:
        _die(f"no exercise {exercise_id}")
    return exercise


@drill_cli.command("start")
@click.option("--county", help="12-digit code of the county")
@click.option("--division", "division_code", help="12-digit code of a county, city or the province")
@click.option("--scenario", type=SCENARIO, required=True)
@click.option("--name", help="defaults to '<year> <area> <scenario>演练'")
def drill_start(county: str | None, division_code: str | None, scenario: str, name: str | None) -> None:
    """Start a live exercise: officers then report with the 演练 prefix."""
    division = _division(county or division_code, "county" if county else None)
    try:
        exercise = flows.start_exercise(division, scenario, name=name)
    except ExerciseError as exc:
        _die(str(exc))
    click.echo(f"started exercise {exercise.id}: {exercise.name} ({division.name}, {scenario})")
    click.echo(f"exercise {exercise.id}")


@drill_cli.command("end")
@click.argument("exercise_id", type=int)
def drill_end(exercise_id: int) -> None:
    try:
        exercise = flows.end_exercise(_exercise(exercise_id))
    except ExerciseError as exc:
        _die(str(exc))
    click.echo(f"ended exercise {exercise.id}: {exercise.name}")


@drill_cli.command("archive")
@click.argument("exercise_id", type=int)
def drill_archive(exercise_id: int) -> None:
    try:
        exercise = flows.archive_exercise(_exercise(exercise_id))
    except ExerciseError as exc:
        _die(str(exc))
    click.echo(f"archived exercise {exercise.id}: {exercise.name}")


def _shelters_of(division: Division, book: roster.PhoneBook):
    """Shelters in the area and who updates them: the manager when the manager is a registered
    person (an SMS from an unknown phone is not accepted), otherwise a responder of the shelter's
    township or county, whose scope holds it."""
    rows = list(db.session.scalars(db.select(ShelterRow).where(
        descendants_clause(ShelterRow.division_code, division), ShelterRow.capacity > 0,
        ShelterRow.status != ShelterStatus.CLOSED).order_by(ShelterRow.code)))
    managers = set(db.session.scalars(db.select(Person.phone).where(
        Person.phone.in_([r.manager_phone for r in rows if r.manager_phone]), Person.active.is_(True))))
    shelters, phones = [], {}
    for row in rows:
        phone = row.manager_phone if row.manager_phone in managers else None
        for code in (row.division.township_code, row.division.county_code, row.division_code):
            phone = phone or (book.responders.get(code) or [None])[0]
        if phone:
            shelters.append(Shelter(row.code, int(row.capacity), phone))
            phones[row.code] = phone
    return shelters, phones


@drill_cli.command("run")
@click.option("--county", help="12-digit code of the county to drill")
@click.option("--province", help="12-digit code of the province (every village in it)")
@click.option("--division", "division_code", help="any county, city or province code")
@click.option("--scenario", type=SCENARIO, required=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--speed", type=float, default=60.0, show_default=True, help="scenario seconds per wall second")
@click.option("--url", "base_url", help="where the server listens (default PUBLIC_BASE_URL)")
@click.option("--villages", "per_township", type=int, default=5, show_default=True,
              help="synthetic villages made under each township that has none")
@click.option("--limit", type=int, help="take part with only this many villages (a seeded sample)")
@click.option("--concurrency", type=int, default=8, show_default=True, help="webhooks in flight at once")
@click.option("--name")
@click.option("--keep-running", is_flag=True, help="leave the exercise running afterwards")
@click.option("--no-progress", is_flag=True)
@click.option("--attribution", help="text for the report's footer ('shared' = the CC BY 4.0 division data)")
def drill_run(county, province, division_code, scenario, seed, speed, base_url, per_township, limit,
              concurrency, name, keep_running, no_progress, attribution) -> None:
    """Simulate officers and responders through the real webhook; the last line is `exercise <ID>`."""
    if speed <= 0:
        _die("--speed must be positive")
    division = _division(county or province or division_code,
                         "county" if county else "province" if province else None)
    base_url = (base_url or current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    try:
        requests.get(base_url + "/healthz", timeout=5)
    except requests.RequestException as exc:
        _die(f"the server at {base_url} does not answer ({type(exc).__name__}); start it (make run) or pass --url")
    clash = service.overlapping_running(division)
    if clash is not None:
        _die(f"{clash.division.name} 已有进行中的演练 #{clash.id}（{clash.name}），请先结束它")
    made = roster.add_synthetic_villages(division, per_township)
    rows = service.area_villages(division)
    if not rows:
        _die(f"{division.name} has no villages and no townships to put synthetic ones under")
    if limit and limit < len(rows):
        rows = sorted(random.Random(seed).sample(rows, limit), key=lambda r: r["code"])
    book = roster.prepare_people(rows)
    shelters, shelter_phones = _shelters_of(division, book)
    plan = build_plan(roster.as_villages(rows, book), scenario, seed, shelters)
    try:
        exercise = flows.start_exercise(
            division, scenario, name=name, mode="simulated", seed=seed, villages=rows,
            settings={"speed": speed, "villages": len(rows), "synthetic_villages": made, "base_url": base_url,
                      "attribution": attribution, "concurrency": concurrency})
    except ExerciseError as exc:
        roster.deactivate_synthetic_people()
        _die(str(exc))
    click.echo(f"exercise {exercise.id}: {len(rows)} villages ({made} synthetic), {len(plan.timed())} planned "
               f"messages, scenario {plan.duration / 3600:.1f} h at ×{speed:g} → {plan.duration / speed:.0f} s")
    try:
        stats = Runner(exercise, plan, book, base_url=base_url, speed=speed, concurrency=concurrency,
                       shelter_phones=shelter_phones, progress=not no_progress).run()
    finally:
        db.session.rollback()
        if not keep_running and exercise.status == ExerciseStatus.RUNNING:
            flows.end_exercise(exercise)
        if not keep_running:
            roster.deactivate_synthetic_people()
    click.echo(f"sent {stats.sent}, replies {stats.replies} ({stats.unprefixed} without the 【演练】 prefix), "
               f"errors {stats.errors}, acknowledgements {stats.acks}, "
               f"woken by reminders {stats.reminded}, in {stats.wall_seconds:.1f} s "
               f"({stats.sent / max(stats.wall_seconds, 1e-9):.1f} messages/s)")
    for example in stats.error_examples[:5]:
        click.echo(f"  error: {example}")
    click.echo(f"exercise {exercise.id}")


@drill_cli.command("report")
@click.argument("exercise_id", type=int)
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="default: drill-<ID>.<format>")
def drill_report(exercise_id: int, fmt: str, output: str | None) -> None:
    """Write the evaluation report (GB/T 46792-2025 / AQ/T 9009 headings)."""
    exercise = _exercise(exercise_id)
    path = Path(output or f"drill-{exercise.id}.{fmt}")
    html = evaluation.render_html(exercise)
    if fmt == "html":
        path.write_text(html, encoding="utf-8")
    else:
        try:
            html_to_pdf(html, path.resolve())
        except (RuntimeError, OSError) as exc:
            _die(str(exc))
    click.echo(f"wrote {path}")
