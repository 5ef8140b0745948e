"""Phrases officers write instead of a keyword and a number: zero statements, totals, vague
quantities, courteous acknowledgements, and national figures we do not store.

Kept apart from ``lexicon`` (single keywords) because each of these tables is read by one rule of
the grammar, documented next to it.
"""

from __future__ import annotations

# ---- Words for zero ---------------------------------------------------------------------------
# "无人员伤亡" says three figures at once. 伤亡 includes the missing: officers and the statistics
# speak of 人员伤亡 as all harm to people (the national reports pair 死亡失踪 as one casualty figure),
# and nobody with a missing villager writes 无人员伤亡; recording missing 0 is what the sender means.
_CASUALTIES = ("deaths", "injured", "missing")
_ZERO_TOPICS: dict[str, tuple[str, ...]] = {
    "人员伤亡": _CASUALTIES, "伤亡": _CASUALTIES, "人伤亡": _CASUALTIES,
    "死亡失踪": ("deaths", "missing"), "人员死亡失踪": ("deaths", "missing"),
    "人员死亡": ("deaths",), "死亡": ("deaths",), "人死亡": ("deaths",),
    "人员失踪": ("missing",), "失踪": ("missing",), "人失踪": ("missing",),
    "人员受伤": ("injured",), "受伤": ("injured",), "人受伤": ("injured",),
    "房屋倒塌": ("houses_collapsed",), "倒塌房屋": ("houses_collapsed",), "倒房": ("houses_collapsed",),
}
_ZERO_NEGATIONS = ("无", "暂无", "没有", "未有", "未造成", "暂未造成", "未发生", "暂未发生", "未发现", "暂未发现")
# phrase -> the indicator keys it states as 0
ZERO_PHRASES: dict[str, tuple[str, ...]] = {
    neg + topic: keys for neg in _ZERO_NEGATIONS for topic, keys in _ZERO_TOPICS.items()}
ZERO_PHRASES.update({"房屋无倒塌": ("houses_collapsed",), "人员无伤亡": _CASUALTIES})

# ---- Totals over breakdowns -------------------------------------------------------------------
# "转移: 老人12人 儿童8人 共20人": a total word and its number beat the breakdown before them.
# They are filler words too (转移群众共计300人), see lexicon.FILLER_WORDS.
TOTAL_WORDS = ("共", "共计", "合计", "总计", "累计", "一共", "总共")

# ---- Vague quantities -------------------------------------------------------------------------
# A keyword followed by one of these (死亡若干, 失踪人数不详) has no figure: the reply asks for it.
VAGUE_WORDS = ("若干", "不详", "不明", "不清", "待查", "待核", "待统计", "未知", "多人", "数人", "几人",
               "一些", "很多", "许多", "大量", "不少", "少量", "个别", "部分", "?", "？")

# ---- Acknowledgements as people write them ----------------------------------------------------
# What may stand before 收到/确认 and still be a plain acknowledgement (已收到, 好的收到).
_ACK_COURTESIES = ("", "好的", "好", "嗯", "嗯嗯", "OK", "明白", "行")
ACK_LEADS = frozenset(c + d for c in _ACK_COURTESIES for d in ("", "已", "已经") if c + d)

# ---- National figures we do not store ---------------------------------------------------------
# Read as one word of narrative so that no keyword inside them (救助, 农作物, 受灾) takes their number.
UNSTORED_FIGURE_WORDS = ("需过渡生活救助人口", "过渡生活救助", "农作物成灾面积", "成灾面积",
                         "农作物绝收面积", "绝收面积", "受灾乡镇", "受灾村庄", "受灾行政村")
