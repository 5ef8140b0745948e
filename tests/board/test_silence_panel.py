"""The silence panel: who owes today's report and is silent, whom to call, which reminders went out."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from core.extensions import db
from core.models import utcnow
from dispatch.models import Escalation


def test_the_silent_villages_with_whom_to_call_and_the_reminders(client, tree, make_person, login, rows):
    event = rows.event(tree.county, daily=True)
    rows.incident(tree.village, event, figures={"relocated": 3})  # 王庄村 reported today: not silent
    a = make_person("officer_a", tree.village2, name="李A", phone="+8613800011111")
    make_person("officer_b", tree.village2, name="李B", phone="+8613800022222")
    db.session.add(Escalation(rule="E5", level="village", division_code=tree.village2.code,
                              village_code=tree.village2.code, township_code=tree.township.code,
                              county_code=tree.county.code, status="closed", created_at=utcnow(),
                              dedupe_key=f"E5:today:0:{tree.village2.code}:a", event_id=event.id))
    db.session.commit()
    login(make_person("county", tree.county))
    assert "/board/silence" in client.get("/board").get_data(as_text=True)  # from the card
    html = client.get("/board/silence").get_data(as_text=True)
    assert "李庄村" in html and "王庄村" not in html
    assert a.phone in html and "+8613800022222" in html and "信息员A" in html

    sheet = load_workbook(io.BytesIO(client.get("/board/silence.xlsx").data)).active
    rows_ = [[c.value for c in r] for r in sheet.iter_rows()]
    assert rows_[0][:3] == ["乡镇", "村", "信息员A"]
    assert rows_[1][1] == "李庄村" and rows_[1][3] == "+8613800011111" and rows_[1][6].startswith("信息员A")


def test_scoped_like_the_board(client, tree, make_person, login, rows):
    event = rows.event(tree.county, daily=True)
    rows.incident(tree.village, event, figures={"relocated": 3})
    login(make_person("county", tree.other_county))
    html = client.get("/board/silence").get_data(as_text=True)
    assert "李庄村" not in html and "今天没有未报的村" in html
