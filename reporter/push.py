"""The mainland providers' inbound pushes (SPEC §11.1): `POST /sms/inbound/aliyun/<token>` and
`POST /sms/inbound/tencent/<token>`. Thin: check the token, normalise (messaging.push), store each
SMS through the intake, answer in the provider's words.

These providers cannot carry a reply in their answer, so the intake queues the reply through the
outbox (`reply_by_sms=True`), sent as its template. Aliyun gives up on an answer after 700 ms
and pushes again: everything is committed before the answer (or spooled when the database is
down or hung, `store_or_spool`), and a repeat changes nothing (see messaging.push). A batch with
an element nobody can read stores the good ones and keeps that one for review.
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Flask

from core.extensions import csrf
from messaging import push
from messaging.spool import register_replay
from messaging.webhooks import answer_push
from reporter.intake import receive_sms

bp = Blueprint("reporter_push", __name__)
PARSERS = {"aliyun": push.aliyun_inbound, "tencent": push.tencent_inbound}


def store_push(provider: str, raw: str, received_at: datetime | None = None) -> int:
    """Store every SMS of one push (each committed by the intake); returns how many were read."""
    good, bad = PARSERS[provider](push.load_json(raw.encode("utf-8")))
    for sms in good:
        if push.may_continue(sms) and push.hold(sms):
            continue  # a part: joined when its continuation (or the sweep) comes
        receive_sms(push.join_held(sms), received_at=received_at, reply_by_sms=True)
    for item in bad:
        receive_sms(push.bad_form(provider, item), received_at=received_at)
    return len(good)


def _inbound(provider: str, token: str):
    return answer_push(provider, token, f"/sms/inbound/{provider}", lambda raw: store_push(provider, raw))


@bp.post("/sms/inbound/aliyun/<token>")
@csrf.exempt
def aliyun_inbound(token: str):
    """Aliyun 上行 HTTP batch push (a JSON array); answered {"code": 0, "msg": "成功"} once stored."""
    return _inbound("aliyun", token)


@bp.post("/sms/inbound/tencent/<token>")
@csrf.exempt
def tencent_inbound(token: str):
    """Tencent Cloud reply callback (one JSON object or an array); answered {"result": 0, "errmsg": "OK"}."""
    return _inbound("tencent", token)


def _replay(provider: str):
    def replay(form: dict, received_at: datetime) -> None:
        store_push(provider, form.get("payload", ""), received_at)
    return replay


def _release(form: dict, received_at: datetime) -> None:
    receive_sms(form, received_at=received_at, reply_by_sms=True)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    for provider in PARSERS:
        register_replay(app, f"/sms/inbound/{provider}", _replay(provider))
    push.register_release(app, _release)
