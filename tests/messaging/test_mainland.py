"""Aliyun and Tencent Cloud end to end: the providers' real SDKs against local fakes of their APIs
(tests/fake_providers.py), their pushes posted as they post them, the send jobs run for real."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from config import TestConfig
from core import create_app
from core.extensions import db
from messaging.jobs import send_sms
from messaging.models import InboundPart, OutboundSms, SmsStatus
from messaging.templates import example_map
from reporter import processing
from reporter.models import InboundMessage, Report, ReviewState
from tests.fake_providers import FakeAliyun, FakeTencent

TOKEN = "s3cret-push-token"


def codes() -> dict[str, str]:
    """A complete map (every template is declared once the app has loaded its parts)."""
    return example_map()


@pytest.fixture(scope="module")
def fakes():
    aliyun, tencent = FakeAliyun(), FakeTencent()
    yield aliyun, tencent
    aliyun.stop()
    tencent.stop()


@pytest.fixture
def mainland(app, fakes, tmp_path):
    """Switch the test app to a mainland backend ("aliyun", "tencent" or "aliyun,tencent")."""
    aliyun, tencent = fakes
    aliyun.reset()
    tencent.reset()
    mapping = tmp_path / "templates.json"
    mapping.write_text(json.dumps(codes()), encoding="utf-8")
    saved = dict(app.config)

    def use(backend: str) -> None:
        app.config.update({
            "SMS_BACKEND": backend, "SMS_TEMPLATES": str(mapping), "SMS_TIMEOUT_SECONDS": 2.0,
            "ALIYUN_ACCESS_KEY_ID": "ak", "ALIYUN_ACCESS_KEY_SECRET": "sk", "ALIYUN_SIGN_NAME": "灾报",
            "ALIYUN_SMS_ENDPOINT": aliyun.url, "ALIYUN_INBOUND_TOKEN": TOKEN,
            "TENCENT_SECRET_ID": "id", "TENCENT_SECRET_KEY": "key", "TENCENT_SMS_APP_ID": "1400000000",
            "TENCENT_SIGN_NAME": "灾报", "TENCENT_SMS_ENDPOINT": tencent.url, "TENCENT_INBOUND_TOKEN": TOKEN})
        app.extensions.pop("zaibao_gateway", None)

    yield use
    app.config.clear()
    app.config.update(saved)
    app.extensions.pop("zaibao_gateway", None)


def drain() -> list[str]:
    """File what the intake stored, then run the send job for every pending outbox row, as a
    worker would; returns the outcomes."""
    db.session.commit()
    processing.drain()
    ids = db.session.scalars(select(OutboundSms.id).where(OutboundSms.status == SmsStatus.PENDING)
                             .order_by(OutboundSms.id)).all()
    return [send_sms(i) for i in ids]


def aliyun_push(client, phone: str, content: str, seq: int, token: str = TOKEN, extra: list | None = None):
    item = {"phone_number": phone.removeprefix("+86"), "send_time": "2026-07-20 08:01:02", "content": content,
            "sign_name": "灾报", "dest_code": "1234", "sequence_id": seq}
    return client.post(f"/sms/inbound/aliyun/{token}", json=[item, *(extra or [])])


def tencent_push(client, phone: str, text: str, at: int = 1784000000, token: str = TOKEN):
    return client.post(f"/sms/inbound/tencent/{token}", json={"extend": "", "mobile": phone.removeprefix("+86"),
                                                              "nationcode": "86", "sign": "灾报", "text": text,
                                                              "time": at})


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def people(tree, make_person):
    """(officer, township responder) as plain values: the send job ends the session's objects."""
    officer = make_person("officer_a", tree.village)
    township = make_person("township", tree.township)
    return SimpleNamespace(phone=officer.phone), SimpleNamespace(phone=township.phone)


def test_aliyun_push_files_the_report_and_texts_reply_and_alert_through_templates(client, mainland, fakes, people):
    aliyun, _ = fakes
    mainland("aliyun")
    officer, township = people
    response = aliyun_push(client, officer.phone, "初报 洪涝 失踪1 转移30", seq=9001)
    assert response.status_code == 200 and response.get_json() == {"code": 0, "msg": "成功"}
    report = db.session.scalar(select(Report))
    assert report is not None and report.indicators["missing"] == 1
    public_id, report_id = report.public_id, report.id
    assert set(drain()) == {"sent"}
    [reply] = aliyun.to(officer.phone.removeprefix("+86"))
    assert reply.template == codes()["report_received"] and reply.sign == "灾报"
    assert reply.params["report"] == public_id and reply.params["village"] == "王庄村"
    [alert] = aliyun.to(township.phone.removeprefix("+86"))
    assert alert.template == codes()["alert"] and alert.params["report"] == str(report_id)
    rows = db.session.scalars(select(OutboundSms)).all()
    assert {r.provider for r in rows} == {"aliyun"} and all(r.gateway_sid.startswith("aliyun:") for r in rows)

    # Aliyun pushes again (its answer came late): nothing new is stored or sent.
    again = aliyun_push(client, officer.phone, "初报 洪涝 失踪1 转移30", seq=9001)
    assert again.get_json() == {"code": 0, "msg": "成功"}
    assert count(InboundMessage) == 1 and count(Report) == 1 and count(OutboundSms) == 2
    assert drain() == [] and len(aliyun.sent) == 2


def test_tencent_reply_callback_files_the_report_and_a_repeat_changes_nothing(client, mainland, fakes, people):
    _, tencent = fakes
    mainland("tencent")
    officer, township = people
    response = tencent_push(client, officer.phone, "初报 洪涝 失踪1 转移30")
    assert response.get_json() == {"result": 0, "errmsg": "OK"}
    assert set(drain()) == {"sent"}
    [reply] = tencent.to(officer.phone)
    assert reply.template == codes()["report_received"]
    assert reply.params[0] == "初报" and all(len(p) <= 6 for p in reply.params)  # Tencent's variable limit
    [alert] = tencent.to(township.phone)
    assert alert.template == codes()["alert"]
    assert tencent_push(client, officer.phone, "初报 洪涝 失踪1 转移30").status_code == 200
    assert count(InboundMessage) == 1 and count(Report) == 1 and drain() == []


def test_a_wrong_token_is_404_and_stores_nothing(client, mainland, people):
    mainland("aliyun")
    officer, _ = people
    assert aliyun_push(client, officer.phone, "初报 洪涝 转移30", seq=1, token="guess").status_code == 404
    assert tencent_push(client, officer.phone, "初报 洪涝 转移30", token=TOKEN[:-1]).status_code == 404
    assert client.post("/sms/status/aliyun/guess", json=[]).status_code == 404
    assert count(InboundMessage) == 0 and count(Report) == 0


def test_an_oversized_push_is_refused_on_every_push_route(client, mainland):
    """Inbound and receipt pushes share one guard: a body over the limit is refused (413), not read."""
    mainland("aliyun")
    huge = "[" + ",".join(["{}"] * 300_000) + "]"  # ~900 KB of elements, over 1 MiB with the padding
    huge += " " * (1024 * 1024)
    for path in (f"/sms/inbound/aliyun/{TOKEN}", f"/sms/status/aliyun/{TOKEN}"):
        response = client.post(path, data=huge, content_type="application/json")
        assert response.status_code == 413, path
    assert count(InboundMessage) == 0


def test_a_batch_with_a_bad_element_stores_the_good_ones_and_keeps_the_bad_one_for_review(client, mainland, people):
    mainland("aliyun")
    officer, _ = people
    response = aliyun_push(client, officer.phone, "初报 洪涝 转移30", seq=77,
                           extra=[{"phone_number": None, "content": ["not", "text"]}])
    assert response.get_json() == {"code": 0, "msg": "成功"}
    assert count(Report) == 1
    kept = db.session.scalar(select(InboundMessage).where(InboundMessage.from_phone == ""))
    assert kept is not None and kept.review_status == ReviewState.PENDING and "not" in kept.body


def test_the_parts_of_a_long_sms_are_joined_before_parsing(client, mainland, people, app):
    mainland("aliyun")
    officer, _ = people
    first = "初报 洪涝 转移30 " + "村东大堤出现管涌险情" * 7
    first = first[:67]  # a whole UCS-2 segment: a part, held until the rest comes
    assert aliyun_push(client, officer.phone, first, seq=500).status_code == 200
    assert count(InboundPart) == 1 and count(InboundMessage) == 0
    assert aliyun_push(client, officer.phone, "失踪1", seq=501).status_code == 200
    [message] = db.session.scalars(select(InboundMessage)).all()
    assert message.body == first + "失踪1"
    report = db.session.scalar(select(Report))
    assert report.indicators["missing"] == 1 and report.indicators["relocated"] == 30


def test_a_held_part_nobody_continues_is_handled_alone_by_the_sweep(client, mainland, people, app):
    from messaging.push import release_parts

    mainland("aliyun")
    app.config["PART_WAIT_SECONDS"] = 0.2
    officer, _ = people
    assert aliyun_push(client, officer.phone, ("零报告" + "今日平安" * 20)[:67], seq=600).status_code == 200
    time.sleep(0.3)
    release_parts()
    db.session.rollback()
    assert count(InboundMessage) == 1 and count(InboundPart) == 1


def test_receipts_move_the_status_forward_only(client, mainland, fakes, people):
    mainland("aliyun")
    officer, _ = people
    aliyun_push(client, officer.phone, "零报告", seq=42)
    drain()
    sms = db.session.scalar(select(OutboundSms).where(OutboundSms.to_phone == officer.phone))
    biz_id = sms.gateway_sid.removeprefix("aliyun:")
    report = {"phone_number": officer.phone[3:], "send_time": "2026-07-20 08:01:03",
              "report_time": "2026-07-20 08:01:09", "success": True, "err_code": "DELIVERED",
              "err_msg": "用户接收成功", "sms_size": "1", "biz_id": biz_id, "out_id": ""}
    assert client.post(f"/sms/status/aliyun/{TOKEN}", json=[report]).get_json() == {"code": 0, "msg": "成功"}
    db.session.rollback()
    assert db.session.get(OutboundSms, sms.id).status == SmsStatus.DELIVERED
    late = report | {"success": False, "err_code": "MK:0001"}
    client.post(f"/sms/status/aliyun/{TOKEN}", json=[late])
    db.session.rollback()
    assert db.session.get(OutboundSms, sms.id).status == SmsStatus.DELIVERED  # never backwards


def test_tencent_status_callback_marks_an_undelivered_sms(client, mainland, people):
    mainland("tencent")
    officer, _ = people
    tencent_push(client, officer.phone, "零报告")
    drain()
    sms = db.session.scalar(select(OutboundSms))
    status = [{"user_receive_time": "2026-07-20 08:03:04", "nationcode": "86", "mobile": officer.phone[3:],
               "report_status": "FAIL", "errmsg": "MN:0001", "description": "空号", "sid": sms.gateway_sid[8:]}]
    assert client.post(f"/sms/status/tencent/{TOKEN}", json=status).get_json() == {"result": 0, "errmsg": "OK"}
    db.session.rollback()
    row = db.session.get(OutboundSms, sms.id)
    assert row.status == SmsStatus.UNDELIVERED and "空号" in row.last_error


def test_a_throttled_send_is_retried(client, mainland, fakes, people):
    aliyun, _ = fakes
    mainland("aliyun")
    officer, _ = people
    aliyun.fail(1, "isv.BUSINESS_LIMIT_CONTROL")
    aliyun_push(client, officer.phone, "零报告", seq=43)
    assert drain() == ["retry"]
    row = db.session.scalar(select(OutboundSms))
    assert row.status == SmsStatus.PENDING and "BUSINESS_LIMIT_CONTROL" in row.last_error
    assert drain() == ["sent"] and len(aliyun.to(officer.phone[3:])) == 1


def test_an_invalid_number_fails_visibly_and_is_not_handed_to_the_other_provider(client, mainland, fakes, people):
    aliyun, tencent = fakes
    mainland("aliyun,tencent")
    officer, _ = people
    aliyun.refuse(officer.phone[3:], "isv.MOBILE_NUMBER_ILLEGAL")
    aliyun_push(client, officer.phone, "零报告", seq=44)
    assert drain() == ["failed"]
    row = db.session.scalar(select(OutboundSms))
    assert row.status == SmsStatus.FAILED and row.provider == "aliyun" and "MOBILE_NUMBER_ILLEGAL" in row.last_error
    assert tencent.sent == []


def test_a_throttled_first_provider_fails_over_to_the_second(client, mainland, fakes, people):
    aliyun, tencent = fakes
    mainland("aliyun,tencent")
    officer, _ = people
    aliyun.fail(5, "isv.BUSINESS_LIMIT_CONTROL")
    aliyun_push(client, officer.phone, "零报告", seq=45)
    assert drain() == ["sent"]
    row = db.session.scalar(select(OutboundSms))
    assert row.provider == "tencent" and row.gateway_sid.startswith("tencent:")
    assert len(tencent.to(officer.phone)) == 1 and aliyun.sent == []


def test_long_variables_are_cut_with_a_visible_ellipsis(client, mainland, fakes, tree, make_person):
    aliyun, _ = fakes
    mainland("aliyun")
    officer = SimpleNamespace(phone=make_person("officer_a", tree.village).phone)
    aliyun_push(client, officer.phone,
                "初报 洪涝 死亡1 失踪2 受伤3 转移120 倒塌12间 损坏30间 农作物受灾面积300公顷 损失350万", seq=46)
    drain()
    [reply] = aliyun.to(officer.phone[3:])
    figures = reply.params["figures"]
    assert len(figures) == 35 and figures.endswith("…")


def test_the_service_refuses_to_start_while_a_template_is_unmapped(app_config, tmp_path):
    partial = {k: v for k, v in codes().items() if k != "alert"}
    path = tmp_path / "partial.json"
    path.write_text(json.dumps(partial), encoding="utf-8")
    with pytest.raises(RuntimeError, match=r"lacks 1: alert\b"):
        create_app(TestConfig, app_config | {"SMS_BACKEND": "aliyun", "SMS_TEMPLATES": str(path)})


def test_sms_templates_lists_names_texts_and_a_complete_example(cli):
    listing = cli("sms", "templates")
    assert listing.exit_code == 0 and "report_received" in listing.output and "${figures}" in listing.output
    example = json.loads(cli("sms", "templates", "--example").output)
    assert "alert" in example and "alert.drill" in example and "login_code" in example


def test_unique_push_ids_make_distinct_messages(client, mainland, people):
    mainland("aliyun")
    officer, _ = people
    for seq in (1, 2):
        aliyun_push(client, officer.phone, f"续报 转移{30 + seq} {uuid.uuid4().hex[:4]}", seq=seq)
    assert count(InboundMessage) == 2
