"""The county office's board (top of the house): what happened where, how bad, who has not
reported, who has not acknowledged, where people can go — scoped to the viewer's division
(`core.scope`) and to real data or one exercise (`core.exercises`), never both.

It reads every part below and owns no domain rule: who may see or decide an event or a queued
message is the reporter's (`reporter.access`), acknowledging is dispatch's, and the actions call
those parts' flows, which check again and audit.

- `blueprint` the blueprint, who is looking at what (BoardView from `?exercise=`), export audit
- `query`     the summary and the township roll-up, summed in SQL
- `incidents` the incident list (filters, sorting, escalation state), map layer, live-change feed
- `exports`   roll-up as XLSX statistics form and CSV (BOM), incidents as GeoJSON
- `cap`       CAP 1.2 XML per event (validated against the OASIS schema in tests/board)
- `review`    the review queue page's queries
- `views`, `actions`  thin routes (GET pages and exports; POST forms)
"""

from __future__ import annotations

from flask import Flask

from board import actions, numbers, views  # noqa: F401  (they register their routes on the blueprint)
from board.blueprint import bp


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
