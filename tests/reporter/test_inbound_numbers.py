"""Strangers' SMS reach the county they texted: a division owns inbound numbers (the `To`, or the
provider's 扩展码), and an unregistered sender's message to one is scoped there (SPEC §2, §4.4)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry
from reporter import numbers
from reporter.attribution import attribute_unknown_sender
from reporter.models import InboundNumber
from tests.conftest import csrf_token
from tests.reporter.conftest import message

STRANGER = "+8613700006666"
COUNTY_NUMBER = "+8613800138000"


@pytest.fixture
def board(client, login):
    def open_for(person):
        login(person)
        return client
    return open_for


def review_count(client) -> int:
    html = client.get("/board/review").get_data(as_text=True)
    return int(re.search(r'待核短信 <small class="hint">(\d+)</small>', html).group(1))


def test_numbers_are_normalised_and_matched_by_longest_prefix(tree):
    assert numbers.normalise_number("+86 138 0013 8000") == numbers.normalise_number("13800138000") == COUNTY_NUMBER
    assert numbers.normalise_number("10690 0001 234") == "106900001234"
    numbers.assign("106900001234", tree.county.code, actor="cli")
    numbers.assign("10690000123401", tree.township.code, actor="cli")
    db.session.commit()
    assert numbers.division_for_number("106900001234") == tree.county.code
    assert numbers.division_for_number("10690000123499") == tree.county.code   # an extension nobody owns
    assert numbers.division_for_number("10690000123401") == tree.township.code  # the township's own
    assert numbers.division_for_number("12") is None and numbers.division_for_number(None) is None


def test_number_owner_wins_unless_the_text_is_more_precise_inside_it(tree):
    numbers.assign(COUNTY_NUMBER, tree.county.code, actor="cli")
    db.session.commit()
    assert attribute_unknown_sender(STRANGER, "房屋进水", COUNTY_NUMBER) == tree.county.code
    assert attribute_unknown_sender(STRANGER, "王庄村 房屋进水", COUNTY_NUMBER) == tree.village.code
    # A village of another county named in a text sent to our number: the number decides.
    assert attribute_unknown_sender(STRANGER, "西城村 房屋进水", COUNTY_NUMBER) == tree.county.code
    # Without an owned number, as before.
    assert attribute_unknown_sender(STRANGER, "西城村 房屋进水", "+8610690000") == tree.other_village.code
    assert attribute_unknown_sender(STRANGER, "房屋进水", "+8610690000") is None


def test_strangers_sms_to_the_county_number_reach_that_county_only(send_sms, tree, make_person, board,
                                                                     county_staff):
    numbers.assign(COUNTY_NUMBER, tree.county.code, actor="cli")
    db.session.commit()
    send_sms(STRANGER, "桥被冲断了 有人被困", sid="SM-ours", extra={"To": COUNTY_NUMBER})
    send_sms(STRANGER, "桥被冲断了", sid="SM-nowhere")
    assert message("SM-ours").division_code == tree.county.code
    assert message("SM-nowhere").division_code is None
    ours = board(county_staff)
    assert review_count(ours) == 1
    html = ours.get("/board/review").get_data(as_text=True)
    assert "桥被冲断了 有人被困" in html and "按所发往的接收号码归属" in html
    assert review_count(board(make_person("county", tree.other_county))) == 0
    township = make_person("township", tree.township)
    assert review_count(board(township)) == 0  # strangers are for county offices and above


def test_numbers_page_is_scoped_audited_and_csrf_protected(client, tree, make_person, board, county_staff):
    numbers.assign("106900009999", tree.other_county.code, actor="cli", note="定州")
    db.session.commit()
    page = board(county_staff)
    assert "106900009999" not in page.get("/board/numbers").get_data(as_text=True)
    assert page.post("/board/numbers", data={"number": "1069000012", "division_code": tree.county.code}
                     ).status_code == 400  # no CSRF token
    token = csrf_token(page, "/board/numbers")
    response = page.post("/board/numbers", data={"csrf_token": token, "number": "1069 0000 12",
                                                 "division_code": tree.township.code, "note": "<b>镇</b>"})
    assert response.status_code == 302
    html = page.get("/board/numbers").get_data(as_text=True)
    assert "1069000012" in html and "&lt;b&gt;镇&lt;/b&gt;" in html
    # Another county's number or division is refused, and nothing changes.
    page.post("/board/numbers", data={"csrf_token": token, "number": "106900009999", "division_code": tree.county.code})
    page.post("/board/numbers", data={"csrf_token": token, "number": "555", "division_code": tree.other_county.code})
    page.post("/board/numbers/remove", data={"csrf_token": token, "number": "106900009999"})
    rows = {r.number: r.division_code for r in db.session.scalars(select(InboundNumber))}
    assert rows == {"106900009999": tree.other_county.code, "1069000012": tree.township.code}
    page.post("/board/numbers/remove", data={"csrf_token": token, "number": "1069000012"})
    assert db.session.scalar(select(InboundNumber).where(InboundNumber.number == "1069000012")) is None
    actions = [(a.action, a.actor_id) for a in db.session.scalars(
        select(AuditEntry).where(AuditEntry.entity == "inbound_number").order_by(AuditEntry.id))]
    assert actions == [("inbound_number.assign", None), ("inbound_number.assign", county_staff.id),
                       ("inbound_number.remove", county_staff.id)]
    township = board(make_person("township", tree.township))
    assert township.post("/board/numbers", data={"csrf_token": csrf_token(township, "/board/numbers"),
                                                 "number": "1234", "division_code": tree.township.code}
                         ).status_code == 403


def test_cli_assigns_lists_and_removes(app, tree):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["numbers", "assign", "13800138000", tree.county.code, "--note", "值班"])
    assert result.exit_code == 0 and COUNTY_NUMBER in result.output
    assert "涿州市" in runner.invoke(args=["numbers", "list"]).output
    assert runner.invoke(args=["numbers", "assign", "13800138000", tree.village.code]).exit_code == 1
    assert runner.invoke(args=["numbers", "remove", "+86 138 0013 8000"]).exit_code == 0
    assert runner.invoke(args=["numbers", "remove", "13800138000"]).exit_code == 1
    assert db.session.scalar(select(InboundNumber)) is None
