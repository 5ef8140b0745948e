"""Translatable labels of the national keys (core.indicators holds the Chinese originals), for
every page: the board and the officers' form.

Written out literally so `pybabel extract` finds them; the Chinese text is the msgid, so the
Chinese interface shows exactly the national names.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

INDICATOR_LABELS = {
    "affected": _l("受灾人口"), "deaths": _l("因灾死亡人口"), "missing": _l("因灾失踪人口"),
    "injured": _l("因灾受伤人口"), "relocated": _l("紧急转移安置人口"), "need_aid": _l("需紧急生活救助人口"),
    "houses_collapsed": _l("倒塌房屋"), "houses_severe": _l("严重损坏房屋"), "houses_damaged": _l("一般损坏房屋"),
    "crop_ha": _l("农作物受灾面积"), "loss_10k_yuan": _l("直接经济损失"),
}
UNIT_LABELS = {"人": _l("人"), "间": _l("间"), "公顷": _l("公顷"), "万元": _l("万元")}
HAZARD_LABELS = {
    "flood": _l("洪涝"), "drought": _l("干旱"), "typhoon": _l("台风"), "wind_hail": _l("风雹"),
    "cold": _l("低温冷冻"), "snow": _l("雪灾"), "sandstorm": _l("沙尘暴"), "earthquake": _l("地震"),
    "geological": _l("地质灾害"), "marine": _l("海洋灾害"), "fire": _l("森林草原火灾"),
    "biological": _l("生物灾害"), "other": _l("其他"),
}
KIND_LABELS = {"initial": _l("初报"), "update": _l("续报"), "final": _l("核报"), "nil": _l("零报告")}
