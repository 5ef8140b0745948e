"""`GET /metrics` in the Prometheus text format (prometheus_client), read fresh at each scrape.

The intake backlog and the age of its oldest message, the outbox's pending and failed SMS, the
spooled webhooks and the depth of each RQ queue: what says, before anyone complains, that the
service is falling behind. With METRICS_TOKEN set a scraper sends `Authorization: Bearer
<token>`; without it only loopback clients are answered (behind a proxy, set the token).
"""

from __future__ import annotations

import hmac
import ipaddress

import redis
from flask import Blueprint, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from core.extensions import csrf, db
from core.models import utcnow
from core.queue import queue, queue_names
from messaging import spool
from messaging.models import FAILED_STATUSES, OutboundSms, SmsStatus
from reporter.service import intake_backlog

bp = Blueprint("ops", __name__)


def _allowed() -> bool:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


class _Scrape:
    """One scrape's readings; a part that cannot be read is reported as down, not as an error."""

    def collect(self):
        database = GaugeMetricFamily("zaibao_database_up", "1 when the database answered this scrape")
        try:
            count, oldest = intake_backlog()
            pending = db.session.scalar(select(func.count(OutboundSms.id))
                                        .where(OutboundSms.status == SmsStatus.PENDING)) or 0
            failed = db.session.scalar(select(func.count(OutboundSms.id))
                                       .where(OutboundSms.status.in_(FAILED_STATUSES))) or 0
            database.add_metric([], 1)
            yield GaugeMetricFamily("zaibao_intake_backlog", "Inbound messages stored, not yet processed",
                                    value=count)
            age = (utcnow() - oldest).total_seconds() if oldest is not None else 0.0
            yield GaugeMetricFamily("zaibao_intake_oldest_seconds",
                                    "Age of the oldest inbound message not yet processed (0: none)", value=age)
            yield GaugeMetricFamily("zaibao_outbox_pending", "Outbound SMS waiting to be sent", value=pending)
            yield GaugeMetricFamily("zaibao_outbox_failed", "Outbound SMS that failed or were not delivered",
                                    value=failed)
        except SQLAlchemyError:
            db.session.rollback()
            database.add_metric([], 0)
        finally:
            db.session.rollback()
        yield database
        yield GaugeMetricFamily("zaibao_spool_files", "Spool files of webhooks kept while the database was down",
                                value=len(spool.pending_files()))
        depth = GaugeMetricFamily("zaibao_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"])
        up = GaugeMetricFamily("zaibao_redis_up", "1 when Redis answered this scrape")
        try:
            for name in queue_names():
                depth.add_metric([name], queue(name).count)
            up.add_metric([], 1)
        except redis.exceptions.RedisError:
            up.add_metric([], 0)
        yield depth
        yield up


@bp.get("/metrics")
@csrf.exempt
def metrics():
    if not _allowed():
        abort(403)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Scrape())
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
