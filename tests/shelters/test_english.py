"""The shelter pages in English (`?lang=en`): every word of the interface translated; only the
data (place and shelter names, people) and the officers' SMS syntax stay Chinese."""

from __future__ import annotations

import re

from flask_babel import force_locale

from core.extensions import db
from reporter.models import Event, Incident
from shelters.models import (
    CLASS_LABELS,
    CLASS_NAMES,
    FACILITY_LABELS,
    FACILITY_NAMES,
    LEVEL_LABELS,
    LEVEL_NAMES,
    STATUS_LABELS,
    STATUS_NAMES,
    TYPE_LABELS,
    TYPE_NAMES,
)

CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+")
# The words a translated page may still show: the language switcher, the drill banner (always
# bilingual) and the Chinese SMS keywords a manager types. SMS texts shown as sent are marked
# lang="zh-CN" and left out.
ALWAYS = {"中文", "演练", "避难", "入住", "满", "关闭", "开放"}


def chinese_left(html: str, data: set[str]) -> set[str]:
    """The Chinese runs of the page's visible text that are not data."""
    body = html.split("<body", 1)[1]
    body = re.sub(r"<script.*?</script>|<ul lang=\"zh-CN\">.*?</ul>", "", body, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", body)
    return {run for run in CJK.findall(text) if run not in data | ALWAYS and not any(run in d for d in data)}


def test_labels_translate_the_same_names(app):
    """The literal labels (for pybabel) say in Chinese exactly what the plain names say."""
    with app.test_request_context("/"), force_locale("zh"):
        for names, labels in ((LEVEL_NAMES, LEVEL_LABELS), (CLASS_NAMES, CLASS_LABELS), (TYPE_NAMES, TYPE_LABELS),
                              (STATUS_NAMES, STATUS_LABELS), (FACILITY_NAMES, FACILITY_LABELS)):
            assert {k: str(v) for k, v in labels.items()} == names


def test_shelter_pages_in_english(app, client, tree, make_person, login, make_shelter):
    shelter = make_shelter(tree.township, code="S1", name="码头镇中学", capacity=50, occupancy=10,
                           facilities=["water", "medical"], manager_name="张三", lon=115.912, lat=39.412)
    event = Event(county_code=tree.county.code, hazard="flood", name="2026-07-30 涿州市 洪涝")
    db.session.add(event)
    db.session.flush()
    for village, people in ((tree.village, 45), (tree.village3, 30)):
        db.session.add(Incident(village_code=village.code, township_code=village.township_code,
                                county_code=tree.county.code, hazard="flood", event_id=event.id, relocated=people))
    db.session.commit()
    county = make_person("county", tree.county, name="涿州应急局")
    login(county)
    data = {"码头镇中学", "张三", "涿州应急局", "涿州市", "码头镇", "东城坊镇", "王庄村", "李庄村", "东河村",
            "河北省", "保定市", "定州市", "留早镇", "西城村", "洪涝"}
    # Flask-Babel caches the locale on `g`: each request its own app context, as in production.
    with app.app_context():
        listing = client.get("/shelters/?lang=en").get_data(as_text=True)
    assert "Emergency shelters" in listing and "Emergency shelter" in listing and "School" in listing
    pages = {"list": listing}
    for path in (f"/shelters/{shelter.id}", "/shelters/new", "/shelters/map", f"/shelters/plan/{event.id}"):
        with app.app_context():
            response = client.get(path)
        assert response.status_code == 200, path
        pages[path] = response.get_data(as_text=True)
    assert {path: chinese_left(html, data) for path, html in pages.items()} == {path: set() for path in pages}
    view = pages[f"/shelters/{shelter.id}"]
    assert "Township" in view and "Water" in view and "Medical" in view and "Occupancy history" in view
    plan = pages[f"/shelters/plan/{event.id}"]
    assert "Shelter code" in plan and "Distance (km)" in plan
    assert "Not enough free places in shelters nearby" in plan  # 75 people, 40 free places
    with app.app_context():
        chinese = client.get(f"/shelters/{shelter.id}?lang=zh").get_data(as_text=True)
    assert "乡镇级" in chinese and "紧急避难场所" in chinese and "供水" in chinese
