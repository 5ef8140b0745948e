"""Messages from unknown senders are placed in a division and scoped by it (SPEC §2, §4.4).

A county office sees (review page, its count, the API) and handles an unknown sender's message only
when it was placed in the county; one nobody could place is for province-level staff only.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from core.extensions import db
from core.models import AuditEntry
from reporter import intake, review
from reporter.attribution import village_named_in
from tests.conftest import _division, csrf_token
from tests.reporter.conftest import message, reports, twiml_text

STRANGER = "+8613700005555"


@pytest.fixture
def board(client, login):
    """The board in the test browser, logged in as `person` (logging in again switches person)."""
    def open_for(person):
        login(person)
        return client
    return open_for


@pytest.fixture
def twin(tree):
    """A second 王庄村, in 定州市 (another county): the name alone no longer says which is meant."""
    township = db.session.get(type(tree.other_village), tree.other_village.parent_code)
    village = _division("130682100002", township, "王庄村", "village")
    db.session.commit()
    return village


def review_page(client) -> tuple[int, str]:
    html = client.get("/board/review").get_data(as_text=True)
    count = re.search(r'待核短信 <small class="hint">(\d+)</small>', html)
    assert count, html[:500]
    return int(count.group(1)), html


def queue_sids(client, headers) -> set[str]:
    response = client.get("/api/v1/review-queue", headers=headers)
    assert response.status_code == 200
    return {m["sid"] for m in response.get_json()["items"]}


def _post(client, path, data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/board"), **data})


def test_county_neither_sees_nor_handles_another_countys_stranger(client, send_sms, tree, make_person, board,
                                                                   api_token, county_staff):
    twiml_text(send_sms(STRANGER, "西城村 房屋进水 转移5人", sid="SM-theirs"))
    stored = message("SM-theirs")
    assert stored.outcome == "unknown_sender" and stored.division_code == tree.other_village.code
    ours = board(county_staff)
    count, html = review_page(ours)
    assert count == 0 and "西城村 房屋进水" not in html
    headers = api_token(county_staff)
    assert queue_sids(client, headers) == set()
    assert client.get("/api/v1/messages/SM-theirs", headers=headers).status_code == 404
    # Handling it is refused everywhere, and nothing changes.
    assert client.post("/api/v1/messages/SM-theirs/convert", headers=headers,
                       json={"village_code": tree.village.code, "text": "初报 洪涝 转移5"}).status_code == 404
    assert client.post("/api/v1/messages/SM-theirs/dismiss", headers=headers, json={"note": "x"}).status_code == 404
    assert _post(ours, f"/board/messages/{stored.id}/convert",
                 {"village_code": tree.village.code, "text": "初报 洪涝 转移5"}).status_code == 404
    assert _post(ours, f"/board/messages/{stored.id}/dismiss", {"note": "不是我们县的"}).status_code == 404
    with pytest.raises(PermissionError, match="无权处理该短信"):
        review.convert_message(county_staff, message("SM-theirs"), village_code=tree.village.code,
                              text="初报 洪涝 转移5")
    with pytest.raises(PermissionError, match="无权处理该短信"):
        review.dismiss_message(county_staff, message("SM-theirs"), "x")
    assert message("SM-theirs").review_status == "pending" and reports() == []
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action.like("message.%"))) == 0
    # The county it was placed in sees it, and so does the province.
    theirs = make_person("county", tree.other_county)
    assert review_page(board(theirs))[0] == 1
    assert queue_sids(client, api_token(theirs)) == {"SM-theirs"}
    assert queue_sids(client, api_token(make_person("province", tree.province))) == {"SM-theirs"}


def test_county_sees_and_converts_a_stranger_placed_in_its_village(client, send_sms, tree, board, api_token,
                                                                     county_staff, township_staff):
    twiml_text(send_sms(STRANGER, "王庄村 大水 冲走两人", sid="SM-ours"))
    stored = message("SM-ours")
    assert stored.division_code == tree.village.code
    count, html = review_page(board(county_staff))
    assert count == 1 and "冲走两人" in html and "推定来自 王庄村（码头镇）" in html
    assert f'<option value="{tree.village.code}" selected>' in html  # the convert form suggests the village
    headers = api_token(county_staff)
    [item] = client.get("/api/v1/review-queue", headers=headers).get_json()["items"]
    assert item["sid"] == "SM-ours" and item["division_code"] == tree.village.code
    assert queue_sids(client, api_token(township_staff)) == set()  # townships see their officers' only
    response = client.post("/api/v1/messages/SM-ours/convert", headers=headers,
                           json={"village_code": tree.village.code, "text": "初报 洪涝 失踪2"})
    assert response.status_code == 201, response.get_json()
    assert message("SM-ours").review_status == "converted"
    [report] = reports()
    assert report.village_code == tree.village.code and report.missing == 2


def test_former_officers_phone_is_placed_in_their_village(send_sms, tree, make_person, client, api_token,
                                                          county_staff):
    former = make_person("officer_a", tree.village3, active=False)
    twiml_text(send_sms(former.phone, "西城村那边水很大", sid="SM-former"))  # the phone outranks the text
    stored = message("SM-former")
    assert stored.outcome == "unknown_sender" and stored.person_id is None
    assert stored.division_code == tree.village3.code
    assert queue_sids(client, api_token(county_staff)) == {"SM-former"}
    assert queue_sids(client, api_token(make_person("county", tree.other_county))) == set()


def test_a_village_code_places_the_message(send_sms, tree):
    twiml_text(send_sms(STRANGER, f"{tree.other_village.code} 房屋倒塌", sid="SM-code"))
    assert message("SM-code").division_code == tree.other_village.code


def test_a_name_two_villages_share_places_nothing(client, send_sms, tree, make_person, board, api_token,
                                                  county_staff, twin):
    twiml_text(send_sms(STRANGER, "王庄村进水了，快来人", sid="SM-twin"))
    assert message("SM-twin").division_code is None
    province = make_person("province", tree.province)
    for person in (county_staff, make_person("county", tree.other_county), make_person("city", tree.city)):
        assert queue_sids(client, api_token(person)) == set(), person
    assert review_page(board(county_staff))[0] == 0
    assert queue_sids(client, api_token(province)) == {"SM-twin"}
    count, html = review_page(board(province))
    assert count == 1 and "快来人" in html
    # With its township the same name says which village is meant.
    twiml_text(send_sms(STRANGER, "码头镇王庄村进水了", sid="SM-town"))
    assert message("SM-town").division_code == tree.village.code
    twiml_text(send_sms(STRANGER, "留早镇 王庄村进水了", sid="SM-town2"))
    assert message("SM-town2").division_code == twin.code


def test_an_unplaced_message_is_for_the_province_only(client, send_sms, tree, make_person, api_token, county_staff):
    twiml_text(send_sms(STRANGER, "救命 水到腰了", sid="SM-lost"))
    assert message("SM-lost").division_code is None
    headers = api_token(county_staff)
    assert queue_sids(client, headers) == set()
    assert client.post("/api/v1/messages/SM-lost/dismiss", headers=headers, json={"note": "x"}).status_code == 404
    assert message("SM-lost").review_status == "pending"
    province = api_token(make_person("province", tree.province))
    response = client.post("/api/v1/messages/SM-lost/dismiss", headers=province, json={"note": "已电话核实"})
    assert response.status_code == 200 and response.get_json()["review_status"] == "dismissed"


def test_a_message_kept_after_a_failure_is_placed_by_its_sender(tree, officer):
    """A message whose handling failed is kept without a person; it is placed like the others."""
    form = {"From": officer.phone, "Body": "初报 洪涝", "To": "+8610690000"}
    assert intake._keep_for_review(form, "SM-kept", {}, None) == intake.TROUBLE
    kept = message("SM-kept")
    assert kept.review_status == "pending" and kept.person_id is None and kept.division_code == tree.village.code
    intake._keep_for_review(form | {"From": STRANGER, "Body": "东河村 停电"}, "SM-kept2", {}, None)
    assert message("SM-kept2").division_code == tree.village3.code


@pytest.mark.parametrize(("official", "text", "placed"), [
    ("王家营村委会", "王家营村房屋进水", True),            # the division list's spelling, the officer's
    ("刘沿村村委会", "刘沿村 转移30人", True),
    ("刘沿村村委会", "刘沿村村委会报告", True),
    ("联西社区居委会", "联西社区 积水", True),
    ("北寨居委会", "北寨社区 积水", True),
    ("北寨居委会", "北寨 积水", False),                     # no 村/社区/居委会: not recognised
    ("王家营村委会", "王家营村和东河村都进水了", False),      # two villages named: no guess
])
def test_village_names_as_officers_write_them(tree, official, text, placed):
    village = _division("130681101009", tree.township, official, "village")
    db.session.commit()
    assert village_named_in(text) == (village.code if placed else None)


def test_the_longest_name_that_exists_is_the_one_meant(tree):
    _division("130681101008", tree.township, "王家营村委会", "village")
    east = _division("130681101009", tree.township, "东王家营村委会", "village")
    db.session.commit()
    assert village_named_in("东王家营村房屋进水") == east.code  # not also 王家营村


def test_a_hostile_text_is_one_bounded_query_and_places_nothing(tree):
    assert village_named_in("王庄村" + "村" * 5000) == tree.village.code  # repeats add no names to look up
    many = "王庄村" + "".join(chr(0x4E00 + n) + "村" for n in range(2000))
    assert village_named_in(many) is None  # too many candidate names to be sure of anything
    assert village_named_in("王庄村，" + "水" * 1600) == tree.village.code


def test_upgrading_places_waiting_messages_of_former_officers(file_app):
    """reporter_004 adds the column; a waiting message from a former officer's phone is placed in
    their village at once (its county keeps seeing it), the others wait for the province."""
    from flask_migrate import upgrade
    from sqlalchemy import text


    with file_app.app_context():
        upgrade(revision="reporter_003")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO divisions (code, name, level, parent_code, virtual) "
                              "VALUES ('130681101001', '王庄村', 'village', NULL, false)"))
            conn.execute(text("INSERT INTO people (id, name, phone, role, division_code, on_duty, active, created_at) "
                              "VALUES (1, '老王', '+8613800000001', 'officer_a', '130681101001', true, false, "
                              "'2026-07-01 00:00:00')"))
            for sid, phone in (("SM-1", "+8613800000001"), ("SM-2", "+8613700000002")):
                conn.execute(text("INSERT INTO inbound_messages (sid, from_phone, body, received_at, outcome, "
                                  "review_status) VALUES (:sid, :phone, '进水', '2026-07-30 01:00:00', "
                                  "'unknown_sender', 'pending')"), {"sid": sid, "phone": phone})
        upgrade(revision="heads")
        placed = dict(db.session.execute(text("SELECT sid, division_code FROM inbound_messages")).all())
        assert placed == {"SM-1": "130681101001", "SM-2": None}
