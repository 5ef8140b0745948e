"""shelters: the emergency shelter registry (应急避难场所), search and relocation plans.

views.py / plan_views.py (pages), api_views.py (/api/v1/shelters…), flows.py (workflows the
reporter's SMS handling and the routes call), service.py (database work), importer.py
(GeoJSON/CSV), spatial.py and relocation.py (pure), cli.py, demo.py.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l


def init_app(app: Flask) -> None:
    from core.web import add_nav
    from shelters import api_views, demo, models, plan_views, views  # noqa: F401  (register tables, routes, demo)
    from shelters.cli import shelters_cli

    app.register_blueprint(views.bp)
    app.cli.add_command(shelters_cli)
    add_nav(app, _l("避难场所"), "/shelters/", order=30)
    add_nav(app, _l("避难场所地图"), "/shelters/map", order=31)
