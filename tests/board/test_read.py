"""The board's read side: summary, roll-up, list, scope, drill isolation (rows written directly)."""

from __future__ import annotations


def test_board_shows_scoped_incidents(client, tree, make_person, login, rows):
    county = make_person("county", tree.county)
    ev = rows.event(tree.county)
    inc, rep = rows.incident(tree.village, ev, figures={"deaths": 1, "relocated": 120}, narrative="河水漫堤")
    rows.escalation(inc, [make_person("township", tree.township, name="张镇长")])
    login(county)
    html = client.get("/board").get_data(as_text=True)
    assert "王庄村" in html and "河水漫堤" in html and "张镇长" in html
    assert "码头镇" in html
