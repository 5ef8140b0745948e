"""The SMS grammar's word tables: every keyword it knows and what it means.

Kept apart from the code that reads a message so that the vocabulary (SPEC §3.2 plus the national
names and everyday variants) can be read and extended in one place: indicators, report kinds,
commands, shelter actions, filler words, units, the help reply, and the lookup tables built from
them that the number reader and tokeniser share (``_CJK_WORDS``, ``_ASCII_WORDS``, ``_match_cjk``).
Hazard words live in ``lexicon_hazards``, multi-word phrases (zero, totals, vague quantities,
acknowledgements) in ``lexicon_phrases``.
"""

from __future__ import annotations

from core.indicators import HAZARDS, INDICATORS
from reporter.grammar.lexicon_hazards import HAZARD_WORDS
from reporter.grammar.lexicon_phrases import TOTAL_WORDS, UNSTORED_FIGURE_WORDS, ZERO_PHRASES

# Short enough that a "未能识别" reply in a drill still has room to name what it could not read.
HELP_TEXT = "报灾: 初报 洪涝 死亡0 转移120 倒塌2间 说明。无灾: 零报告。确认: 收到 E17。改: 更正 R12 死亡1。避难 120人"


# SPEC §3.2, plus the official names of 《自然灾害情况统计调查制度》 (core.indicators.INDICATORS, added
# by _build_tables: 因灾死亡人口, 紧急转移安置人口, 农作物受灾面积 …) and their common shortenings.
# The tokeniser takes the longest match, so 农作物受灾面积 is one keyword and never 农作物 + 受灾.
INDICATOR_WORDS: dict[str, tuple[str, ...]] = {
    "affected": ("受灾", "受灾人口", "AFFECTED"),
    "deaths": ("死亡", "遇难", "死", "因灾死亡", "DEAD", "DEATHS", "DEATH"),
    "missing": ("失踪", "因灾失踪", "MISSING"),
    "injured": ("受伤", "伤", "重伤", "轻伤", "因灾受伤", "INJURED"),
    "relocated": ("转移", "转移安置", "安置", "撤离", "疏散", "紧急转移", "紧急转移安置", "EVAC", "RELOCATED"),
    "need_aid": ("救助", "需救助", "生活救助", "紧急生活救助", "需紧急生活救助", "AID"),
    "houses_collapsed": ("倒塌", "倒房", "倒塌房屋", "COLLAPSED"),
    "houses_severe": ("严重损坏", "严损", "SEVERE"),
    "houses_damaged": ("一般损坏", "损坏", "损房", "DAMAGED"),
    "crop_ha": ("农作物", "庄稼", "受灾面积", "农作物受灾", "CROP"),
    "loss_10k_yuan": ("损失", "经济损失", "直接经济损失", "LOSS"),
}

REPORT_KIND_WORDS: dict[str, tuple[str, ...]] = {
    "initial": ("初报", "首报", "CB", "NEW"),
    "update": ("续报", "XB", "UPD", "UPDATE"),
    "final": ("核报", "HB", "FINAL"),
}

COMMAND_WORDS: dict[str, tuple[str, ...]] = {
    "drill": ("演练", "DRILL"),
    "help": ("帮助", "HELP", "?"),
    "ack": ("收到", "ACK", "确认"),
    "fix": ("更正", "FIX"),
    "shelter": ("避难", "避难所", "避难场所", "SHELTER"),
    "nil": ("零报告", "无灾情", "无灾", "无灾害", "平安", "NIL"),
}

SHELTER_ACTION_WORDS: dict[str, tuple[str, ...]] = {
    "occupancy": ("入住", "已入住", "在住", "OCC", "OCCUPANCY"),
    "full": ("满", "已满", "满员", "住满", "FULL"),
    "closed": ("关闭", "已关闭", "关", "停用", "CLOSED", "CLOSE"),
    "open": ("开放", "已开放", "开", "启用", "OPEN"),
}

# Words that may stand between a keyword and its number without breaking the pair, from the way
# officers write (转移群众约300人, 5间民房倒塌, 死亡人数为0, 转移人数增至300). A closed list: any other
# word breaks the pair, and a filler never lets a number jump over another keyword (the pairing only
# skips fillers). Unpaired, they stay in the narrative. The total words are fillers too.
FILLER_WORDS = ("约", "大约", "约有", "近", *TOTAL_WORDS, "共有", "计", "达", "达到", "已达", "增至", "升至",
                "增加到", "为", "有", "了", "的", "群众", "村民", "人员", "人口", "人数", "房屋", "房", "民房",
                "住房", "面积")

# unit -> (category, multiplier applied to the number). Category decides which keywords it may pair with.
_UNITS: dict[str, tuple[str, int]] = {}
for _u in ("人", "人员", "名", "口", "位"):
    _UNITS[_u] = ("people", 1)
for _u in ("间", "户", "座", "处"):
    _UNITS[_u] = ("house", 1)
for _u in ("公顷", "HA", "亩"):
    _UNITS[_u] = ("area", 1)
_UNITS.update({"元": ("money", 1), "块": ("money", 1), "万元": ("money", 10_000),
               "亿元": ("money", 100_000_000)})
# Numbers with these units are never indicator values (淹死2头牛, 水位涨2米, 2023年, 7月31日, 10级大风).
for _u in ("头", "只", "匹", "条", "辆", "艘", "棵", "株", "米", "厘米", "毫米", "公里", "千米", "立方米",
           "立方", "方", "吨", "斤", "公斤", "千克", "度", "级", "年", "月", "日", "号", "时", "点", "分",
           "分钟", "秒", "天", "小时", "个小时", "周", "组", "队", "村", "岁", "层", "楼", "个", "次", "%",
           "℃", "MM", "CM", "KM", "M", "KG"):
    _UNITS[_u] = ("other", 1)
_UNIT_MAX = max(len(u) for u in _UNITS)

_COUNT_KEYS = frozenset(k for k, (_n, _unit, is_count) in INDICATORS.items() if is_count)

# Where 平安 is part of a place name (平安村, 平安街) it is not a nil report.
_PLACE_SUFFIX = set("村庄镇乡屯街区里路桥寨堡营坊店河山县市")

# type codes
_IND, _NUM, _HAZ, _KIND, _CMD, _ACT, _CODE, _FILL, _ZERO, _TEXT = (
    "ind", "num", "haz", "kind", "cmd", "act", "code", "fill", "zero", "text")


def _build_tables() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    cjk: dict[str, tuple[str, str]] = {}
    ascii_: dict[str, tuple[str, str]] = {}
    groups: list[tuple[str, dict[str, tuple[str, ...]]]] = [
        (_CMD, COMMAND_WORDS), (_KIND, REPORT_KIND_WORDS), (_HAZ, HAZARD_WORDS),
        (_IND, INDICATOR_WORDS), (_ACT, SHELTER_ACTION_WORDS)]
    entries = [(t, v, w) for t, table in groups for v, ws in table.items() for w in ws]
    entries += [(_HAZ, key, name) for key, name in HAZARDS.items() if key != "other"]
    entries += [(_IND, key, name) for key, (name, _unit, _c) in INDICATORS.items()]
    entries += [(_FILL, "", w) for w in FILLER_WORDS]
    entries += [(_ZERO, phrase, phrase) for phrase in ZERO_PHRASES]
    entries += [(_TEXT, "", w) for w in UNSTORED_FIGURE_WORDS]
    for typ, value, word in entries:
        target = ascii_ if word.isascii() and word.isalpha() else cjk
        word = word.upper() if target is ascii_ else word
        previous = target.setdefault(word, (typ, value))
        if previous != (typ, value):  # pragma: no cover - a vocabulary mistake, caught by tests
            raise ValueError(f"keyword {word!r} means both {previous} and {(typ, value)}")
    return cjk, ascii_


_CJK_WORDS, _ASCII_WORDS = _build_tables()
_CJK_MAX = max(len(w) for w in _CJK_WORDS)
_CJK_FIRST = {w[0] for w in _CJK_WORDS}


def _match_cjk(text: str, i: int) -> tuple[str, str, int] | None:
    for length in range(min(_CJK_MAX, len(text) - i), 0, -1):
        hit = _CJK_WORDS.get(text[i:i + length])
        if hit is not None:
            return hit[0], hit[1], i + length
    return None
