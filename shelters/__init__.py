"""shelters: the emergency shelter registry (应急避难场所), search and relocation plans.

views.py / plan_views.py (pages), api_views.py (/api/v1/shelters…), sms.py (the `避难` SMS
commands, registered with the reporter), plans.py (relocation plans of an event), service.py
(database work), importer.py (GeoJSON/CSV), spatial.py and relocation.py (pure), cli.py, demo.py.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from core.web import add_nav
from reporter import commands
from shelters import api_views, demo, plan_views, sms, views  # noqa: F401  (they register routes, demo data)
from shelters.cli import shelters_cli


def init_app(app: Flask) -> None:
    commands.register(app, "shelter_query", sms.handle_query)
    commands.register(app, "shelter_update", sms.handle_update)
    app.register_blueprint(views.bp)
    app.cli.add_command(shelters_cli)
    add_nav(app, _l("避难场所"), "/shelters/", order=30)
    add_nav(app, _l("避难场所地图"), "/shelters/map", order=31)
