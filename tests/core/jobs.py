"""Job functions for the kernel's worker test (a real `flask worker` imports them by name)."""

from __future__ import annotations

from core.extensions import db
from core.models import AuditEntry
from core.queue import task
from messaging.gateway import get_gateway


@task
def send_and_count(to: str, body: str) -> int:
    """Send through the configured gateway and touch the database, as real jobs do."""
    get_gateway().send(to, body)
    count = db.session.query(AuditEntry).count()
    db.session.commit()
    return count
