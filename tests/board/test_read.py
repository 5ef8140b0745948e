"""The board's read side: summary, roll-up, list, filters, scope, drill isolation, live feed, map."""

from __future__ import annotations

from datetime import timedelta

from core.exercises import Exercise
from core.extensions import db
from core.models import Boundary, utcnow
from messaging.models import OutboundSms


def _county_board(client, tree, make_person, login, rows):
    county = make_person("county", tree.county)
    ev = rows.event(tree.county, daily=True)
    inc1, _ = rows.incident(tree.village, ev, figures={"deaths": 1, "missing": 2, "relocated": 120},
                            narrative="河水漫堤")
    inc3, _ = rows.incident(tree.village3, ev, figures={"injured": 3, "crop_ha": 12.5})
    responder = make_person("township", tree.township, name="张镇长")
    rows.escalation(inc1, [responder], overdue=True)
    rows.escalation(inc3, [make_person("township", tree.township2, name="李镇长")])
    login(county)
    return county, ev, inc1, inc3


def test_summary_rollup_and_list(client, tree, make_person, login, rows):
    _county_board(client, tree, make_person, login, rows)
    html = client.get("/board").get_data(as_text=True)
    assert "河水漫堤" in html and "张镇长" in html and "李镇长" in html
    data = client.get("/board/summary.json").get_json()
    s = data["summary"]
    assert s["totals"] == {"deaths": 1, "missing": 2, "relocated": 120, "injured": 3, "crop_ha": 12.5}
    assert s["open_incidents"] == 2 and s["villages"] == 2
    assert (s["escalations_open"], s["escalations_overdue"]) == (2, 1)
    # Daily-report event: both townships owe; each village with an incident reported today,
    # 李庄村 (码头镇) has sent nothing.
    assert (s["reported"], s["silent"]) == (2, 1)
    towns = {t["name"]: t for t in data["townships"]}
    assert towns["码头镇"]["deaths"] == 1 and towns["码头镇"]["overdue"] == 1
    assert towns["码头镇"]["silent_names"] == ["李庄村"]
    assert towns["东城坊镇"]["injured"] == 3 and towns["东城坊镇"]["overdue"] == 0
    assert "李庄村" in html  # silent village named in the roll-up's <details>


def test_failed_sms_counted_in_scope(client, tree, make_person, login, rows):
    _county, _ev, inc1, _inc3 = _county_board(client, tree, make_person, login, rows)
    responder = make_person("township", tree.township)
    esc = rows.escalation(inc1, [responder])
    far_ev = rows.event(tree.other_county)
    far_inc, _ = rows.incident(tree.other_village, far_ev, figures={"deaths": 1})
    far = rows.escalation(far_inc, [make_person("county", tree.other_county)])
    db.session.add_all([OutboundSms(to_phone=responder.phone, person_id=responder.id, body="x", purpose="escalation",
                                    escalation_id=esc.id, status="failed"),
                        OutboundSms(to_phone="+8613800009999", body="x", purpose="escalation",
                                    escalation_id=far.id, status="failed")])
    db.session.commit()
    assert client.get("/board/summary.json").get_json()["summary"]["sms_failed"] == 1


def test_filters_and_sorting(client, tree, make_person, login, rows):
    county = make_person("county", tree.county)
    ev = rows.event(tree.county)
    rows.incident(tree.village, ev, figures={"relocated": 5}, narrative="甲")
    rows.incident(tree.village2, ev, hazard="geological", figures={"deaths": 4}, flags=["implausible"])
    rows.incident(tree.village3, ev, figures={"relocated": 500})
    login(county)

    def villages(query):
        html = client.get("/board?" + query).get_data(as_text=True)
        return [v for v in ("王庄村", "李庄村", "东河村") if f"<b>{v}</b>" in html], html

    assert villages("hazard=geological")[0] == ["李庄村"]
    assert villages("flag=implausible")[0] == ["李庄村"]
    assert villages(f"township={tree.township2.code}")[0] == ["东河村"]
    assert villages("q=甲")[0] == ["王庄村"]
    _, html = villages("sort=relocated")
    assert html.index("<b>东河村</b>") < html.index("<b>王庄村</b>")
    _, html = villages("sort=severity")
    assert html.index("<b>李庄村</b>") < html.index("<b>东河村</b>")
    assert villages("review=accepted")[0] == []
    assert villages("hazard=<script>&sort=nonsense&page=-3")[0] == ["王庄村", "李庄村", "东河村"]


def test_township_sees_only_its_villages(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    rows.incident(tree.village, ev, figures={"deaths": 1})
    rows.incident(tree.village3, ev, figures={"injured": 7}, narrative="东城坊机密")
    login(make_person("township", tree.township))
    html = client.get("/board").get_data(as_text=True)
    assert "王庄村" in html and "东河村" not in html and "东城坊机密" not in html
    html = client.get(f"/board?township={tree.township2.code}").get_data(as_text=True)
    assert "东城坊机密" not in html
    data = client.get("/board/summary.json").get_json()
    assert data["summary"]["totals"] == {"deaths": 1}
    assert [t["name"] for t in data["townships"]] == ["码头镇"]
    markers = client.get("/board/map.json").get_json()["markers"]
    assert len(markers) == 1
    assert client.get(f"/board/incidents/{markers[0][0]}.json").get_json()["village"] == "王庄村"
    hidden = rows.incident(tree.village3, ev)[0]
    assert client.get(f"/board/incidents/{hidden.id}.json").status_code == 404


def test_drill_data_never_mixes_with_real(client, tree, make_person, login, rows):
    county = make_person("county", tree.county)
    exercise = Exercise(name="2026年涿州防汛演练", division_code=tree.county.code, scenario="flood")
    foreign = Exercise(name="定州演练", division_code=tree.other_county.code, scenario="flood")
    db.session.add_all([exercise, foreign])
    db.session.commit()
    real_ev = rows.event(tree.county)
    drill_ev = rows.event(tree.county, exercise_id=exercise.id)
    rows.incident(tree.village, real_ev, figures={"deaths": 1})
    rows.incident(tree.village2, drill_ev, figures={"deaths": 50}, exercise_id=exercise.id, narrative="演练数据")
    login(county)
    real = client.get("/board/summary.json").get_json()["summary"]
    drill = client.get(f"/board/summary.json?exercise={exercise.id}").get_json()["summary"]
    assert real["totals"] == {"deaths": 1} and drill["totals"] == {"deaths": 50}
    html = client.get("/board").get_data(as_text=True)
    assert "演练数据" not in html and "演练 EXERCISE" not in html
    html = client.get(f"/board?exercise={exercise.id}").get_data(as_text=True)
    assert "演练 EXERCISE" in html and "演练数据" in html and "<b>王庄村</b>" not in html
    review = client.get(f"/board/review?exercise={exercise.id}").get_data(as_text=True)
    assert "演练 EXERCISE" in review
    assert client.get(f"/board?exercise={foreign.id}").status_code == 404
    assert client.get("/board?exercise=999").status_code == 404
    assert client.get("/board?exercise=abc").status_code == 404


def test_changes_feed_reports_new_items_in_scope(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    inc, _ = rows.incident(tree.village, ev, figures={"deaths": 1})
    responder = make_person("township", tree.township, name="王干事")
    login(make_person("township", tree.township))
    first = client.get("/board/changes").get_json()
    assert first["items"] == [] and first["cursor"]
    cursor = first["cursor"]
    assert client.get(f"/board/changes?since={cursor}").get_json()["counts"] == {
        "reports": 0, "escalations": 0, "acks": 0}
    rows.report(inc, figures={"deaths": 2})
    rows.incident(tree.village3, ev, figures={"deaths": 9})  # other township: not in scope
    esc = rows.escalation(inc, [responder])
    esc.status, esc.acknowledged_at, esc.acknowledged_by_id = "acknowledged", utcnow(), responder.id
    db.session.commit()
    data = client.get(f"/board/changes?since={cursor}").get_json()
    assert data["counts"]["reports"] == 1 and data["counts"]["escalations"] == 1
    keys = {i["key"] for i in data["items"]}
    assert {f"E{esc.id}", f"ack:E{esc.id}"} <= keys
    assert [i["village"] for i in data["items"] if i["type"] == "report"] == ["王庄村"]
    assert [i["by"] for i in data["items"] if i["type"] == "ack"] == ["王干事"]
    assert client.get("/board/changes?since=garbage").get_json()["items"] == []


def test_map_layer_markers_and_outline(client, tree, make_person, login, rows):
    db.session.add(Boundary(division_code=tree.county.code, min_lon=115.7, min_lat=39.3, max_lon=116.2,
                            max_lat=39.7, geometry={"type": "Polygon", "coordinates": [[
                                [115.7, 39.3], [116.2, 39.3], [116.2, 39.7], [115.7, 39.3]]]}))
    db.session.commit()
    ev = rows.event(tree.county)
    rows.incident(tree.village, ev, figures={"deaths": 12})
    rows.incident(tree.village2, ev, figures={"relocated": 10})
    login(make_person("county", tree.county))
    data = client.get("/board/map.json").get_json()
    by_village = {client.get(f"/board/incidents/{m[0]}.json").get_json()["village"]: m for m in data["markers"]}
    assert by_village["王庄村"][3] == 4 and by_village["李庄村"][3] == 1
    assert by_village["王庄村"][1:3] == [39.41, 115.91] and by_village["王庄村"][4] == 1
    popup = client.get(f"/board/incidents/{by_village['王庄村'][0]}.json").get_json()
    assert popup["figures"] == ["因灾死亡人口 12"] and popup["hazard"] == "洪涝" and popup["severity"] == 4
    assert data["outline"][0]["type"] == "Polygon"
    assert data["shelters"]["type"] == "FeatureCollection"


def test_english_interface(app, client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    rows.incident(tree.village, ev, figures={"deaths": 1}, flags=["late"])
    login(make_person("county", tree.county))
    # Flask-Babel caches the locale on `g`; the test harness keeps one app context for the
    # whole test, so each request gets its own context here, as it does in production.
    with app.app_context():
        html = client.get("/board?lang=en").get_data(as_text=True)
    assert "Incident board" in html and "灾情看板" not in html
    assert "Deaths" in html and "Flood" in html and "late" in html and "Townships roll-up" in html
    with app.app_context():
        html = client.get("/board/review").get_data(as_text=True)
    assert "Review queue" in html  # remembered in the session
    with app.app_context():
        html = client.get("/board?lang=zh").get_data(as_text=True)
    assert "灾情看板" in html and "因灾死亡人口" in html


def test_board_requires_staff_login(client, tree, make_person, login):
    assert client.get("/board").status_code == 302
    assert client.get("/board/changes").status_code in (302, 401)


def test_overdue_is_relative_to_now(client, tree, make_person, login, rows):
    ev = rows.event(tree.county)
    inc, _ = rows.incident(tree.village, ev, figures={"deaths": 1})
    esc = rows.escalation(inc, [make_person("township", tree.township)])
    esc.deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    login(make_person("county", tree.county))
    assert client.get("/board/summary.json").get_json()["summary"]["escalations_overdue"] == 1


def test_drill_changes_stay_out_of_the_real_feed(client, tree, make_person, login, rows):
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    login(make_person("county", tree.county))
    real_cursor = client.get("/board/changes").get_json()["cursor"]
    drill_cursor = client.get(f"/board/changes?exercise={exercise.id}").get_json()["cursor"]
    rows.incident(tree.village, rows.event(tree.county, exercise_id=exercise.id), figures={"deaths": 3},
                  exercise_id=exercise.id)
    assert client.get(f"/board/changes?since={real_cursor}").get_json()["counts"]["reports"] == 0
    assert client.get(f"/board/changes?since={drill_cursor}&exercise={exercise.id}").get_json()[
        "counts"]["reports"] == 1


def test_pages_of_fifty(client, tree, make_person, login, rows):
    from reporter.models import Incident

    ev = rows.event(tree.county)
    db.session.add_all([Incident(village_code=tree.village.code, township_code=tree.township.code,
                                 county_code=tree.county.code, hazard="flood", event_id=ev.id, relocated=n)
                        for n in range(1, 61)])
    db.session.commit()
    login(make_person("county", tree.county))
    first = client.get("/board?sort=relocated").get_data(as_text=True)
    assert first.count('data-incident="') == 50 and "1 / 2" in first
    second = client.get("/board?sort=relocated&page=2").get_data(as_text=True)
    assert second.count('data-incident="') == 10 and "2 / 2" in second
    assert client.get("/board?page=99").status_code == 200


def test_silence_follows_new_reports_and_daily_switch(client, tree, make_person, login, rows):
    """The daily-report answer is cached per process: a new report or a switched event shows at once."""
    from reporter.models import Report

    county = make_person("county", tree.county)
    ev = rows.event(tree.county, daily=True)
    rows.incident(tree.village, ev, figures={"relocated": 5})
    login(county)
    s = client.get("/board/summary.json").get_json()["summary"]
    assert (s["reported"], s["silent"]) == (1, 1)  # 李庄村 owes a report
    db.session.add(Report(kind="nil", village_code=tree.village2.code, township_code=tree.township.code,
                          county_code=tree.county.code, channel="sms", received_at=utcnow()))
    db.session.commit()
    s = client.get("/board/summary.json").get_json()["summary"]
    assert (s["reported"], s["silent"]) == (2, 0)  # a nil report counts
    ev.daily_report = False
    db.session.commit()
    s = client.get("/board/summary.json").get_json()["summary"]
    assert (s["reported"], s["silent"]) == (0, 0)


def test_summary_api_with_bearer_token(client, tree, make_person, api_token, rows):
    ev = rows.event(tree.county)
    rows.incident(tree.village, ev, figures={"deaths": 1})
    rows.incident(tree.village3, ev, figures={"injured": 2})
    headers = api_token(make_person("township", tree.township2))
    data = client.get("/api/v1/board/summary", headers=headers).get_json()
    assert data["summary"]["totals"] == {"injured": 2}
    assert [t["name"] for t in data["townships"]] == ["东城坊镇"]
    assert client.get("/api/v1/board/summary?exercise=77", headers=headers).status_code == 404
    assert client.get("/api/v1/board/summary").status_code == 401
    assert "/api/v1/board/summary" in client.get("/api/v1/openapi.json").get_json()["paths"]
