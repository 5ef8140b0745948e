"""The pure tier: the grammar, the escalation rules, shelter search and relocation, drill
scenarios and metrics — plain values in, plain values out. No app, no database, no Redis, so
nothing to wipe between tests: this overrides the suite's autouse `_isolation`, and `make test`
runs these once, before the service tier runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolation():
    yield
