"""Delivery receipts pushed by Aliyun (SmsReport) and Tencent Cloud (status callback), SPEC §11.1:
`POST /sms/status/aliyun/<token>` and `/sms/status/tencent/<token>`. The token in the URL is the
only proof of origin (neither provider signs): compared in constant time, a wrong one gets 404.
Statuses only move forward (`receipts.record`); while the database is down the push is spooled
(without its token) and applied once it returns."""

from __future__ import annotations

import json

from flask import Blueprint, Flask

from core.extensions import csrf
from messaging import push, receipts
from messaging.spool import register_replay
from messaging.webhooks import answer_push

bp = Blueprint("messaging_push", __name__)
APPLY = {"aliyun": receipts.apply_aliyun, "tencent": receipts.apply_tencent}


def _status(provider: str, token: str):
    return answer_push(provider, token, f"/sms/status/{provider}",
                       lambda raw: APPLY[provider](push.load_json(raw.encode("utf-8"))))


@bp.post("/sms/status/aliyun/<token>")
@csrf.exempt
def aliyun_status(token: str):
    return _status("aliyun", token)


@bp.post("/sms/status/tencent/<token>")
@csrf.exempt
def tencent_status(token: str):
    return _status("tencent", token)


def _replay(provider: str):
    def replay(form: dict, _received_at: object = None) -> None:
        try:
            payload = json.loads(form.get("payload", ""))
        except ValueError:
            return
        APPLY[provider](payload)
    return replay


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    for provider in APPLY:
        register_replay(app, f"/sms/status/{provider}", _replay(provider))
