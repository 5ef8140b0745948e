"""SMS grammar (SPEC §3): reporter.grammar is pure, so these tests need no app, database or network."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cn2an
import pytest
from hypothesis import HealthCheck, configuration, given, settings
from hypothesis import strategies as st

from core.indicators import HAZARDS, INDICATORS, MAX_VALUE
from reporter.grammar import (
    COMMAND_WORDS,
    FILLER_WORDS,
    HAZARD_WORDS,
    HELP_TEXT,
    INDICATOR_WORDS,
    NARRATIVE_MAX,
    REPORT_KIND_WORDS,
    SHELTER_ACTION_WORDS,
    Command,
    normalise,
    parse,
    parse_number,
)

# Hypothesis keeps its caches (unicode tables, examples) under ./.hypothesis by default; keep the tree clean.
if not os.getenv("HYPOTHESIS_STORAGE_DIRECTORY"):
    configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "zaibao-hypothesis")

KINDS = {"help", "ack", "correction", "shelter_query", "shelter_update", "nil", "report", "unparsed"}


def report(body: str) -> Command:
    cmd = parse(body)
    assert cmd.kind == "report", (body, cmd)
    return cmd


# ---------------------------------------------------------------------------------------------
# Every example of SPEC §3, verbatim
# ---------------------------------------------------------------------------------------------


def test_spec_pairing_examples():
    assert report("初报洪涝死亡1失踪0").indicators == {"deaths": 1, "missing": 0}
    assert report("初报洪涝死亡1失踪0").report_kind == "initial"
    assert report("初报洪涝死亡1失踪0").hazard == "flood"
    assert report("2人死亡 5人受伤").indicators == {"deaths": 2, "injured": 5}


def test_spec_drill_prefix_example():
    cmd = parse("演练 初报 洪涝 转移30")
    assert (cmd.kind, cmd.drill, cmd.report_kind, cmd.hazard, cmd.indicators) == (
        "report",
        True,
        "initial",
        "flood",
        {"relocated": 30},
    )


@pytest.mark.parametrize("body", ["帮助", "HELP", "?", "？"])
def test_spec_help_keywords(body):
    cmd = parse(body)
    assert cmd.kind == "help" and not cmd.drill and cmd.problems == ()


def test_spec_ack_example():
    cmd = parse("收到 E17")
    assert (cmd.kind, cmd.target_id, cmd.narrative) == ("ack", 17, "")


def test_spec_correction_example():
    cmd = parse("更正 R1203 死亡1")
    assert (cmd.kind, cmd.target_id, cmd.indicators) == ("correction", 1203, {"deaths": 1})


@pytest.mark.parametrize(("body", "people"), [("避难", None), ("避难 120人", 120)])
def test_spec_shelter_query_examples(body, people):
    cmd = parse(body)
    assert (cmd.kind, cmd.value, cmd.shelter_code) == ("shelter_query", people, None)


@pytest.mark.parametrize(
    ("body", "action", "value"),
    [
        ("避难 S12 入住230", "occupancy", 230),
        ("SHELTER S12 OCC 230", "occupancy", 230),
        ("避难 S12 满", "full", None),
        ("避难 S12 关闭", "closed", None),
        ("避难 S12 开放", "open", None),
    ],
)
def test_spec_shelter_update_examples(body, action, value):
    cmd = parse(body)
    assert (cmd.kind, cmd.shelter_code, cmd.shelter_action, cmd.value) == (
        "shelter_update",
        "S12",
        action,
        value,
    )


def test_spec_nil_example():
    cmd = parse("零报告")
    assert (cmd.kind, cmd.hazard, cmd.indicators, cmd.narrative) == ("nil", None, {}, "")


@pytest.mark.parametrize("body", ["死亡2", "死亡:2", "死亡 2人", "2人死亡", "DEAD 2"])
def test_spec_indicator_forms(body):
    assert report(body).indicators == {"deaths": 2}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("120", 120),
        ("1.5", 1.5),
        ("１２０", 120),
        ("三十五", 35),
        ("两百", 200),
        ("一千二百", 1200),
    ],
)
def test_spec_number_examples(text, value):
    assert parse_number(text) == value
    assert report(f"洪涝 转移{text}" if value == int(value) else f"洪涝 农作物{text}").indicators in (
        {"relocated": value},
        {"crop_ha": value},
    )


def test_spec_wan_example():
    assert report("洪涝 受灾1.2万人").indicators == {"affected": 12000}


def test_spec_reply_examples_do_not_break_the_parser():
    # §3.3 / §5 outbound texts, e.g. forwarded back by a responder: never an exception.
    for body in (
        "已收到初报R1203(洪涝 王庄村): 死亡0 失踪1 受伤3 转移120。有误请回复: 更正 R1203 死亡1",
        '【灾情】王庄村(码头镇) 洪涝 死亡0 失踪1 转移120 R1203。回复"收到 E17"确认。',
        "您的号码未登记为灾害信息员，请联系乡镇应急办。",
    ):
        assert parse(body).kind in KINDS
    forwarded = parse("【灾情】王庄村(码头镇) 洪涝 死亡0 失踪1 转移120 R1203。")
    assert forwarded.indicators == {"deaths": 0, "missing": 1, "relocated": 120}
    assert "R1203" in forwarded.narrative


# ---------------------------------------------------------------------------------------------
# Vocabulary: every hazard synonym, every indicator keyword, every report kind
# ---------------------------------------------------------------------------------------------

SPEC_HAZARDS = {
    "flood": "洪涝 洪水 水灾 内涝 暴雨 FLOOD",
    "drought": "干旱 旱灾 DROUGHT",
    "typhoon": "台风 TYPHOON",
    "wind_hail": "风雹 冰雹 大风 龙卷风 HAIL WIND",
    "cold": "低温冷冻 低温 冷冻 冻害 霜冻 COLD",
    "snow": "雪灾 暴雪 SNOW",
    "sandstorm": "沙尘暴 SANDSTORM",
    "earthquake": "地震 EARTHQUAKE QUAKE",
    "geological": "地质灾害 滑坡 泥石流 崩塌 LANDSLIDE",
    "marine": "风暴潮 海啸 MARINE",
    "fire": "森林火灾 草原火灾 山火 火灾 FIRE",
    "biological": "病虫害 生物灾害 PEST",
}
SPEC_INDICATORS = {
    "affected": "受灾 受灾人口 AFFECTED",
    "deaths": "死亡 遇难 死 DEAD DEATHS",
    "missing": "失踪 MISSING",
    "injured": "受伤 伤 INJURED",
    "relocated": "转移 转移安置 安置 撤离 EVAC RELOCATED",
    "need_aid": "救助 需救助 AID",
    "houses_collapsed": "倒塌 倒房 倒塌房屋 COLLAPSED",
    "houses_severe": "严重损坏 严损 SEVERE",
    "houses_damaged": "一般损坏 损坏 损房 DAMAGED",
    "crop_ha": "农作物 庄稼 受灾面积 CROP",
    "loss_10k_yuan": "损失 经济损失 直接经济损失 LOSS",
}
SPEC_KINDS = {"initial": "初报 首报 CB NEW", "update": "续报 XB UPD UPDATE", "final": "核报 HB FINAL"}


@pytest.mark.parametrize(("key", "word"), [(k, w) for k, ws in SPEC_HAZARDS.items() for w in ws.split()])
def test_every_spec_hazard_synonym(key, word):
    cmd = report(f"{word} 死亡1")
    assert (cmd.hazard, cmd.indicators, cmd.narrative) == (key, {"deaths": 1}, "")
    assert report(f"初报{word}转移3" if not word.isascii() else f"初报 {word} 转移3").hazard == key
    assert report(word.lower() + " 转移3").hazard == key


@pytest.mark.parametrize(("key", "name"), [(k, n) for k, n in HAZARDS.items() if k != "other"])
def test_official_hazard_names_are_synonyms(key, name):
    assert report(f"{name} 转移3").hazard == key


@pytest.mark.parametrize(("key", "word"), [(k, w) for k, ws in SPEC_INDICATORS.items() for w in ws.split()])
def test_every_spec_indicator_keyword_both_orders(key, word):
    for body in (
        f"洪涝 {word}7",
        f"洪涝 {word} 7",
        f"洪涝 7 {word}",
        f"洪涝 {word}:7",
        f"洪涝{word.lower()} 7",
    ):
        cmd = report(body)
        assert cmd.indicators == {key: 7}, body
        assert cmd.narrative == "", body


@pytest.mark.parametrize(("key", "name"), [(k, v[0]) for k, v in INDICATORS.items()])
def test_official_indicator_names_are_keywords(key, name):
    assert report(f"洪涝 {name}9").indicators == {key: 9}


@pytest.mark.parametrize(("kind", "word"), [(k, w) for k, ws in SPEC_KINDS.items() for w in ws.split()])
def test_every_report_kind_word(kind, word):
    cmd = report(f"{word} 洪涝 转移5")
    assert (cmd.report_kind, cmd.hazard, cmd.indicators) == (kind, "flood", {"relocated": 5})
    assert report(f"{word.lower()} flood evac 5").report_kind == kind


def test_report_kind_omitted_is_none_for_the_caller_to_infer():
    assert report("洪涝 转移5").report_kind is None


@pytest.mark.parametrize(
    ("body", "indicators"),
    [
        ("洪涝 受灾人口300", {"affected": 300}),  # not 受灾 + 人口
        ("洪涝 转移安置40", {"relocated": 40}),  # not 转移 + 安置
        ("洪涝 倒塌房屋6间", {"houses_collapsed": 6}),
        ("洪涝 严重损坏3 损坏4", {"houses_severe": 3, "houses_damaged": 4}),
        ("洪涝 一般损坏五间", {"houses_damaged": 5}),  # 一 of 一般 is not a numeral
        ("洪涝 直接经济损失30 ", {"loss_10k_yuan": 30}),
        ("洪涝 经济损失30", {"loss_10k_yuan": 30}),
        ("洪涝 受灾面积12", {"crop_ha": 12}),
        ("洪涝 死3 死亡4", {"deaths": 4}),
        ("洪涝 伤2 受伤3", {"injured": 3}),
        ("洪涝 需救助8", {"need_aid": 8}),
    ],
)
def test_longest_keyword_wins(body, indicators):
    assert report(body).indicators == indicators


def test_vocabulary_tables_are_unambiguous():
    words: dict[str, str] = {}
    tables = {
        "cmd": COMMAND_WORDS,
        "kind": REPORT_KIND_WORDS,
        "haz": HAZARD_WORDS,
        "ind": INDICATOR_WORDS,
        "act": SHELTER_ACTION_WORDS,
    }
    for name, table in tables.items():
        for value, ws in table.items():
            for w in ws:
                meaning = f"{name}:{value}"
                assert words.setdefault(w.upper(), meaning) == meaning, w
    for w in FILLER_WORDS:
        assert w not in words
    assert set(INDICATOR_WORDS) == set(INDICATORS)
    assert set(HAZARD_WORDS) == set(HAZARDS)


# ---------------------------------------------------------------------------------------------
# Pairing: order, ties, separators, no separators
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "indicators", "narrative"),
    [
        ("洪涝 死亡 2 失踪", {"deaths": 2}, "失踪"),  # tie: the number goes to the keyword before it
        ("洪涝 2 死亡 3", {"deaths": 3}, "2"),
        ("洪涝 死亡2失踪", {"deaths": 2}, "失踪"),
        ("洪涝 3 死亡 失踪 4", {"deaths": 3, "missing": 4}, ""),  # maximum matching beats the tie rule
        ("洪涝 死亡 失踪 4", {"missing": 4}, "死亡"),
        ("洪涝 2人死亡 5人受伤 3人失踪", {"deaths": 2, "injured": 5, "missing": 3}, ""),
        ("洪涝 死亡2 受伤5 失踪3", {"deaths": 2, "injured": 5, "missing": 3}, ""),
        ("洪涝 死亡2 3人受伤", {"deaths": 2, "injured": 3}, ""),
        ("洪涝 2人死亡失踪3", {"deaths": 2, "missing": 3}, ""),
        ("洪涝 死亡1 2 3人受伤", {"deaths": 1, "injured": 3}, "2"),
        ("洪涝 死亡 1 2", {"deaths": 1}, "2"),
        ("洪涝 死亡 受伤", {}, "死亡 受伤"),
    ],
)
def test_pairing_and_tie_rule(body, indicators, narrative):
    cmd = parse(body)
    assert cmd.indicators == indicators
    assert cmd.narrative == narrative


def test_keyword_with_no_number_next_to_it_is_narrative():
    # (无人员伤亡, the example here before, is now a zero statement: see test_officers_words.py)
    cmd = report("洪涝 转移30人 伤亡情况正在核实")
    assert cmd.indicators == {"relocated": 30}
    assert cmd.narrative == "伤亡情况正在核实"


@pytest.mark.parametrize(
    "body",
    [
        "初报洪涝死亡1失踪0受伤3转移120",
        "初报 洪涝 死亡1 失踪0 受伤3 转移120",
        "初报,洪涝,死亡1,失踪0,受伤3,转移120",
        "初报，洪涝，死亡1，失踪0，受伤3，转移120。",
        "初报、洪涝、死亡：1；失踪：0；受伤：3；转移：120！",
        "【初报】洪涝\n死亡1\n失踪0\r\n受伤3\t转移120",
        "(初报)[洪涝]（死亡1）死亡 失踪0 受伤3 转移120".replace("死亡 ", ""),
        "初报 洪涝 1人死亡 0人失踪 3人受伤 120人转移",
        "CB FLOOD DEAD 1 MISSING 0 INJURED 3 EVAC 120",
        "cb flood dead1 missing0 injured3 evac120",
        "初报洪涝死亡一失踪零受伤三转移一百二十",
        "初报洪涝死亡1名失踪0口受伤3人转移120人",
    ],
)
def test_separators_and_no_separators(body):
    cmd = report(body)
    assert (cmd.report_kind, cmd.hazard) == ("initial", "flood")
    assert cmd.indicators == {"deaths": 1, "missing": 0, "injured": 3, "relocated": 120}
    assert cmd.narrative == ""


@pytest.mark.parametrize(
    ("body", "indicators"),
    [
        ("洪涝 转移群众约300人", {"relocated": 300}),
        ("暴雨致5间房屋倒塌", {"houses_collapsed": 5}),
        ("洪涝 房屋倒塌3间", {"houses_collapsed": 3}),
        ("洪涝 死亡人数为0 失踪人数为零", {"deaths": 0, "missing": 0}),
        ("洪涝 受灾群众1200人", {"affected": 1200}),
        ("洪涝 转移300余人", {"relocated": 300}),
        ("洪涝 转移300多人", {"relocated": 300}),
        ("洪涝 共计转移安置人员1500名", {"relocated": 1500}),
    ],
)
def test_filler_words_between_keyword_and_number(body, indicators):
    assert report(body).indicators == indicators


@pytest.mark.parametrize(
    ("body", "indicators", "in_narrative"),
    [
        ("洪涝 淹死2头牛", {}, "淹死2头牛"),  # livestock is not a death
        ("洪涝 水位上涨2米 转移20人", {"relocated": 20}, "水位上涨2米"),
        ("2023年7月31日 洪涝 死亡1", {"deaths": 1}, "2023年7月31日"),
        ("大风10级 倒塌2间", {"houses_collapsed": 2}, "10级"),
        ("洪涝 转移300 次日返回", {"relocated": 300}, "次日返回"),
        ("洪涝 一些房屋受损", {}, "一些房屋受损"),  # 一 in 一些 is not a number
        ("洪涝 第一组转移30人", {"relocated": 30}, "第一组"),
        ("洪涝 十字路口积水 转移5", {"relocated": 5}, "十字路口积水"),
    ],
)
def test_numbers_that_are_not_indicator_values(body, indicators, in_narrative):
    cmd = parse(body)
    assert cmd.indicators == indicators
    assert in_narrative in cmd.narrative


def test_two_banks_is_not_two_people():
    cmd = parse("洪涝 转移两岸群众300人")
    assert cmd.indicators.get("relocated") != 2


def test_injury_parts_add_up_and_total_wins():
    assert report("初报 洪涝 死亡2人 重伤3人 轻伤2人").indicators == {"deaths": 2, "injured": 5}
    assert report("洪涝 受伤5人 重伤2人").indicators == {"injured": 5}


def test_repeated_indicator_keeps_last_and_says_so():
    cmd = report("洪涝 死亡1 死亡2")
    assert cmd.indicators == {"deaths": 2}
    assert any("重复" in p for p in cmd.problems)


# ---------------------------------------------------------------------------------------------
# Normalising, numbers, units
# ---------------------------------------------------------------------------------------------


def test_normalise_full_width():
    assert normalise("ＤＥＡＤ　１２，：；（）！？Ａｂ") == "DEAD 12,:;()!?Ab"
    assert normalise("死亡\u200b1\r\n") == "死亡1\n"
    assert normalise("a\x00b") == "a b"


@pytest.mark.parametrize(
    "body",
    [
        "初报　洪涝　死亡１　失踪０",
        "ＣＢ　ＦＬＯＯＤ　ＤＥＡＤ１　ＭＩＳＳＩＮＧ０",
        "初报（洪涝）死亡：１；失踪：０",
        "ｃｂ ｆｌｏｏｄ ｄｅａｄ １ ｍｉｓｓｉｎｇ ０",
    ],
)
def test_full_width_messages(body):
    cmd = report(body)
    assert (cmd.report_kind, cmd.hazard, cmd.indicators) == ("initial", "flood", {"deaths": 1, "missing": 0})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("7", 7),
        ("120", 120),
        ("1.5", 1.5),
        ("１２０", 120),
        ("１．５", 1.5),
        ("十", 10),
        ("十二", 12),
        ("二十", 20),
        ("三十五", 35),
        ("两百", 200),
        ("两百五", 250),
        ("一千二百", 1200),
        ("一千二", 1200),
        ("三千零五十", 3050),
        ("一万二", 12000),
        ("三万五千", 35000),
        ("十五万", 150000),
        ("一点五", 1.5),
        ("零", 0),
        ("1.2万", 12000),
        ("3千", 3000),
        ("5百", 500),
        ("1万2千", 12000),
        ("2亿", 200_000_000),
        ("1.5亿", 150_000_000),
        ("1,200", 1200),
        ("  42 ", 42),
        ("-3", -3),
        ("负五", -5),
        ("二〇二三", 2023),
    ],
)
def test_parse_number(text, value):
    assert parse_number(text) == value


@pytest.mark.parametrize(
    "text", ["", "abc", "万", "百", "千", "1.", ".", "十十", "1.2.3", "12人", "S12", "2三"]
)
def test_parse_number_rejects(text):
    assert parse_number(text) is None


def test_parse_number_huge_is_infinite_not_an_error():
    assert parse_number("9" * 400) == float("inf")
    assert parse_number("9" * 5000) == float("inf")


@pytest.mark.parametrize(
    ("body", "indicators"),
    [
        ("洪涝 转移1.2万人", {"relocated": 12000}),
        ("洪涝 转移三万", {"relocated": 30000}),
        ("洪涝 受灾两千三百人", {"affected": 2300}),
        ("洪涝 转移1万2千人", {"relocated": 12000}),
        ("洪涝 受灾3百人", {"affected": 300}),
        ("洪涝 转移一千二百人", {"relocated": 1200}),
        ("洪涝 受伤十人", {"injured": 10}),
        ("洪涝 受伤 一人", {"injured": 1}),
    ],
)
def test_multipliers_in_reports(body, indicators):
    assert report(body).indicators == indicators


@pytest.mark.parametrize(
    ("body", "indicators"),
    [
        # area: hectares by default, 亩 ÷ 15
        ("洪涝 农作物30", {"crop_ha": 30.0}),
        ("洪涝 农作物30公顷", {"crop_ha": 30.0}),
        ("洪涝 农作物30ha", {"crop_ha": 30.0}),
        ("洪涝 农作物30 HA", {"crop_ha": 30.0}),
        ("洪涝 农作物300亩", {"crop_ha": 20.0}),
        ("洪涝 受灾面积1.5万亩", {"crop_ha": 1000.0}),
        ("洪涝 庄稼100亩", {"crop_ha": 6.6667}),
        ("冰雹 受灾1000亩", {"crop_ha": 66.6667}),  # 受灾 + an area is the crop area, not people
        # money: 万元 by default, 元 ÷ 10,000, 亿 × 10,000
        ("洪涝 损失30", {"loss_10k_yuan": 30.0}),
        ("洪涝 损失30万元", {"loss_10k_yuan": 30.0}),
        ("洪涝 损失30万", {"loss_10k_yuan": 30.0}),
        ("洪涝 损失5000元", {"loss_10k_yuan": 0.5}),
        ("洪涝 经济损失1200元", {"loss_10k_yuan": 0.12}),
        ("洪涝 损失2亿", {"loss_10k_yuan": 20000.0}),
        ("洪涝 直接经济损失1.5亿元", {"loss_10k_yuan": 15000.0}),
        ("洪涝 损失一万二千", {"loss_10k_yuan": 1.2}),
        # houses: 间 户 座 处 all count as 间
        ("洪涝 倒塌3户", {"houses_collapsed": 3}),
        ("洪涝 倒塌3间 损坏2座 严损1处", {"houses_collapsed": 3, "houses_damaged": 2, "houses_severe": 1}),
        # people: 人 名 口
        ("洪涝 转移5人 失踪1名 受灾20口", {"relocated": 5, "missing": 1, "affected": 20}),
    ],
)
def test_unit_conversions(body, indicators):
    cmd = report(body)
    assert cmd.indicators == indicators
    for key, value in cmd.indicators.items():
        assert isinstance(value, int if INDICATORS[key][2] else float)


def test_unit_that_does_not_fit_the_keyword_is_not_paired():
    cmd = parse("洪涝 损失房屋3间 转移4")
    assert cmd.indicators == {"relocated": 4}
    assert "3间" in cmd.narrative


def test_counts_are_int_and_must_be_whole():
    cmd = parse("洪涝 死亡1.5 转移2")
    assert cmd.indicators == {"relocated": 2}
    assert isinstance(cmd.indicators["relocated"], int)
    assert any("整数" in p for p in cmd.problems)


def test_thousands_comma_is_a_separator_with_a_hint():
    cmd = parse("洪涝 转移1,200人")
    assert cmd.indicators == {"relocated": 1}
    assert any("逗号" in p for p in cmd.problems)


# ---------------------------------------------------------------------------------------------
# Narrative
# ---------------------------------------------------------------------------------------------


def test_narrative_is_what_is_left():
    cmd = report("初报 洪涝 死亡0 失踪1 转移120 村东桥梁冲毁，道路中断。")
    assert cmd.indicators == {"deaths": 0, "missing": 1, "relocated": 120}
    assert cmd.narrative == "村东桥梁冲毁 道路中断"


def test_narrative_collapses_separators_and_keeps_ids_in_reports():
    cmd = report("洪涝   R1203 \n\n 转移3  E17 S12,,,  见上报")
    assert cmd.indicators == {"relocated": 3}
    assert cmd.narrative == "R1203 E17 S12 见上报"


def test_narrative_capped_at_200():
    cmd = report("洪涝 转移3 " + "水" * 500)
    assert cmd.narrative == "水" * NARRATIVE_MAX
    assert any("200" in p for p in cmd.problems)


def test_hazard_and_narrative_is_a_report():
    cmd = report("洪涝 村里进水了")
    assert (cmd.hazard, cmd.indicators, cmd.narrative) == ("flood", {}, "村里进水了")


def test_kind_and_narrative_without_hazard_is_a_report():
    cmd = report("续报 水位仍在上涨")
    assert (cmd.report_kind, cmd.hazard, cmd.narrative) == ("update", None, "水位仍在上涨")


def test_indicators_without_hazard_is_a_report():
    cmd = report("死亡1 失踪2")
    assert (cmd.hazard, cmd.indicators) == (None, {"deaths": 1, "missing": 2})


def test_first_hazard_wins_later_ones_are_narrative():
    cmd = report("暴雨引发滑坡 倒塌3间")
    assert cmd.hazard == "flood"
    assert cmd.narrative == "暴雨引发滑坡"  # a hazard word inside a sentence stays in the narrative


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "kind"),
    [
        ("演练 帮助", "help"),
        ("DRILL HELP", "help"),
        ("演练 ？", "help"),
        ("演练 收到 E17", "ack"),
        ("drill ack e17", "ack"),
        ("演练 更正 R1203 死亡1", "correction"),
        ("DRILL FIX R1203 DEAD 1", "correction"),
        ("演练 避难 120人", "shelter_query"),
        ("DRILL SHELTER", "shelter_query"),
        ("演练 避难 S12 满", "shelter_update"),
        ("DRILL SHELTER S12 OCC 230", "shelter_update"),
        ("演练 零报告", "nil"),
        ("drill nil", "nil"),
        ("演练 初报 洪涝 转移30", "report"),
        ("【演练】洪涝 转移30", "report"),
        ("演练洪涝转移30", "report"),
    ],
)
def test_drill_prefix_with_every_command(body, kind):
    cmd = parse(body)
    assert (cmd.kind, cmd.drill) == (kind, True)
    plain = parse(body.replace("演练", "").replace("DRILL", "").replace("drill", ""))
    assert (plain.kind, plain.drill) == (kind, False)
    assert (plain.indicators, plain.target_id, plain.value) == (cmd.indicators, cmd.target_id, cmd.value)


def test_drill_alone_is_unparsed():
    cmd = parse("演练")
    assert (cmd.kind, cmd.drill) == ("unparsed", True)
    assert cmd.problems


def test_help_is_whole_message_only():
    assert parse("帮助?").kind == "help"
    assert parse("help me").kind == "unparsed"
    assert parse("帮助 洪涝").kind == "report"


@pytest.mark.parametrize(
    ("body", "target"),
    [
        ("收到 E17", 17),
        ("收到E17", 17),
        ("收到 e17", 17),
        ("ACK E17", 17),
        ("ack e5", 5),
        ("确认 E3", 3),
        ("收到 17", 17),
        ("收到", None),
        ("ACK", None),
        ("确认", None),
        ("收到！", None),
        ("收到 E17 马上处理", 17),
    ],
)
def test_ack_with_and_without_id(body, target):
    cmd = parse(body)
    assert (cmd.kind, cmd.target_id) == ("ack", target)


def test_ack_keeps_trailing_words_as_narrative():
    assert parse("收到 E17 马上处理").narrative == "马上处理"


@pytest.mark.parametrize("body", ["收到 R12", "收到 S3", "收到 E99999999999"])
def test_ack_with_a_wrong_id_acknowledges_nothing(body):
    cmd = parse(body)
    assert cmd.kind == "unparsed" and cmd.target_id is None and cmd.problems


@pytest.mark.parametrize(
    ("body", "target", "indicators"),
    [
        ("更正 R1203 死亡1", 1203, {"deaths": 1}),
        ("更正R1203死亡1", 1203, {"deaths": 1}),
        ("更正 r12 死亡1 失踪0", 12, {"deaths": 1, "missing": 0}),
        ("FIX R7 DEAD 2 EVAC 30", 7, {"deaths": 2, "relocated": 30}),
        ("fix r7 1人死亡", 7, {"deaths": 1}),
        ("更正 R5 损失3000元", 5, {"loss_10k_yuan": 0.3}),
    ],
)
def test_correction(body, target, indicators):
    cmd = parse(body)
    assert (cmd.kind, cmd.target_id, cmd.indicators) == ("correction", target, indicators)


@pytest.mark.parametrize("body", ["更正 死亡1", "更正 E12 死亡1", "更正", "更正 R12", "更正 R12 死亡-1"])
def test_bad_correction_is_unparsed_with_a_reason(body):
    cmd = parse(body)
    assert cmd.kind == "unparsed" and cmd.indicators == {} and cmd.problems


@pytest.mark.parametrize(
    ("body", "people"),
    [
        ("避难", None),
        ("SHELTER", None),
        ("shelter", None),
        ("避难 120人", 120),
        ("避难120人", 120),
        ("SHELTER 120", 120),
        ("避难 一百二十人", 120),
        ("避难所", None),
        ("避难 村里有80人", 80),
    ],
)
def test_shelter_query_with_and_without_count(body, people):
    cmd = parse(body)
    assert (cmd.kind, cmd.value, cmd.shelter_code, cmd.shelter_action) == (
        "shelter_query",
        people,
        None,
        None,
    )


def test_shelter_query_negative_count_is_dropped_with_a_problem():
    cmd = parse("避难 -5人")
    assert (cmd.kind, cmd.value) == ("shelter_query", None)
    assert cmd.problems


@pytest.mark.parametrize(
    ("body", "code", "action", "value"),
    [
        ("避难 S12 入住230", "S12", "occupancy", 230),
        ("避难S12入住230人", "S12", "occupancy", 230),
        ("避难 s12 occ 230", "S12", "occupancy", 230),
        ("SHELTER S12 OCC230", "S12", "occupancy", 230),
        ("避难 S12 230", "S12", "occupancy", 230),
        ("避难 S12 230人入住", "S12", "occupancy", 230),
        ("避难 S12 入住0", "S12", "occupancy", 0),
        ("避难 S12 满", "S12", "full", None),
        ("避难 S12 已满", "S12", "full", None),
        ("SHELTER S12 FULL", "S12", "full", None),
        ("避难 S12 关闭", "S12", "closed", None),
        ("shelter s12 closed", "S12", "closed", None),
        ("避难 S12 开放", "S12", "open", None),
        ("SHELTER S12 OPEN", "S12", "open", None),
        ("避难 ZZ-001 满", "ZZ-001", "full", None),
        ("避难 zz-001 入住15", "ZZ-001", "occupancy", 15),
    ],
)
def test_shelter_update_every_action(body, code, action, value):
    cmd = parse(body)
    assert (cmd.kind, cmd.shelter_code, cmd.shelter_action, cmd.value) == (
        "shelter_update",
        code,
        action,
        value,
    )


@pytest.mark.parametrize("body", ["避难 S12", "避难 S12 入住-5", "避难 S12 入住200000000", "避难 S12 随便"])
def test_bad_shelter_update_is_unparsed_with_a_reason(body):
    cmd = parse(body)
    assert cmd.kind == "unparsed" and cmd.shelter_action is None and cmd.problems


@pytest.mark.parametrize(
    ("body", "hazard", "narrative"),
    [
        ("零报告", None, ""),
        ("无灾情", None, ""),
        ("无灾", None, ""),
        ("平安", None, ""),
        ("NIL", None, ""),
        ("nil", None, ""),
        ("零报告 洪涝", "flood", ""),
        ("零报告洪涝", "flood", ""),
        ("nil flood", "flood", ""),
        ("零报告 今日无异常", None, "今日无异常"),
        ("平安 洪涝 水位已退", "flood", "水位已退"),
        ("本村无灾情", None, "本村无灾情"),  # nothing but a nil word: a nil report, not an incident
    ],
)
def test_nil_variants(body, hazard, narrative):
    cmd = parse(body)
    assert (cmd.kind, cmd.hazard, cmd.indicators, cmd.narrative) == ("nil", hazard, {}, narrative)


def test_nil_with_figures_warns():
    cmd = parse("零报告 洪涝 转移30")
    assert cmd.kind == "nil" and cmd.indicators == {}
    assert any("初报" in p for p in cmd.problems)


def test_village_called_pingan_is_not_a_nil_report():
    cmd = report("平安村 洪涝 转移30")
    assert cmd.indicators == {"relocated": 30}
    assert cmd.narrative == "平安村"


def test_command_words_later_in_a_report_are_narrative():
    cmd = report("洪涝 转移30 已确认 请帮助")
    assert cmd.indicators == {"relocated": 30}
    assert cmd.narrative == "已确认 请帮助"


# ---------------------------------------------------------------------------------------------
# Bad input (SPEC §9): never an exception, a clear answer
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body", ["", "   ", "\n\n", "😀", "🌊🌊🌊", "👍🏽", "，。！", "...", "【】（）", "\u200b"]
)
def test_empty_emoji_punctuation_are_unparsed(body):
    cmd = parse(body)
    assert cmd.kind == "unparsed" and cmd.problems


def test_1600_characters():
    body = ("初报 洪涝 死亡1 " + "村里情况很严重，" * 200)[:1600]
    cmd = report(body)
    assert cmd.indicators == {"deaths": 1}
    assert NARRATIVE_MAX - 1 <= len(cmd.narrative) <= NARRATIVE_MAX  # cut, then trimmed
    assert cmd.narrative.startswith("村里情况很严重 村里情况很严重")
    assert any("截断" in p for p in cmd.problems)
    for junk in ("啊" * 1600, "一" * 1600, "9" * 1600, "a" * 1600, "😀" * 1600, "死亡1" * 320, "S1 " * 533):
        assert parse(junk).kind in KINDS


@pytest.mark.parametrize(
    "body",
    [
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "'; DROP TABLE reports; --",
        "1 OR 1=1",
        "SELECT * FROM people WHERE 1=1",
        "Robert'); DROP TABLE students;--",
    ],
)
def test_html_and_sql_without_hazard_are_unparsed(body):
    cmd = parse(body)
    assert cmd.kind == "unparsed" and cmd.indicators == {}


def test_html_with_hazard_is_a_report_with_that_text_as_narrative():
    cmd = report("洪涝 <script>alert('x')</script> 转移3")
    assert cmd.indicators == {"relocated": 3}
    assert "<script>" in cmd.narrative


@pytest.mark.parametrize(
    ("body", "hazard", "indicators"),
    [
        ("Flood 洪水 dead 2人 Привет مرحبا", "flood", {"deaths": 2}),
        ("台风typhoon転移 évac 3", "typhoon", {}),
        ("地震 missing 1 ناپدید", "earthquake", {"missing": 1}),
    ],
)
def test_mixed_scripts(body, hazard, indicators):
    cmd = parse(body)
    assert cmd.kind == "report"
    assert (cmd.hazard, cmd.indicators) == (hazard, indicators)


@pytest.mark.parametrize(
    "body", ["洪涝 死亡-1", "洪涝 死亡－１", "洪涝 死亡 -1", "洪涝 DEAD -1", "洪涝 死亡负1", "洪涝 -1人死亡"]
)
def test_negative_numbers_are_refused(body):
    cmd = parse(body)
    assert cmd.indicators == {}
    assert cmd.kind == "unparsed"
    assert any("负" in p for p in cmd.problems)


def test_negative_number_dropped_others_kept():
    cmd = report("洪涝 死亡-1 转移30")
    assert cmd.indicators == {"relocated": 30}
    assert any("负" in p for p in cmd.problems)


@pytest.mark.parametrize(
    "body",
    [
        f"洪涝 死亡{MAX_VALUE + 1}",
        "洪涝 转移" + "9" * 70,
        "洪涝 受灾2亿人",
        "洪涝 损失2万亿",
        "洪涝 转移1e400",
    ],
)
def test_huge_numbers_are_refused(body):
    cmd = parse(body)
    assert all(v <= MAX_VALUE for v in cmd.indicators.values())
    if body != "洪涝 转移1e400":
        assert cmd.indicators == {}
        assert any("过大" in p for p in cmd.problems)
        assert all(len(p) <= 60 for p in cmd.problems)


def test_max_value_itself_is_accepted():
    assert report(f"洪涝 死亡{MAX_VALUE}").indicators == {"deaths": MAX_VALUE}


@pytest.mark.parametrize("body", ["洪涝", "初报 洪涝", "初报洪涝", "FLOOD", "初报 洪涝 。。"])
def test_hazard_with_no_indicator_and_no_narrative_is_unparsed(body):
    cmd = parse(body)
    assert cmd.kind == "unparsed" and cmd.hazard == "flood" and cmd.problems


@pytest.mark.parametrize("body", [None, b"\xff\xfe", 12, "\ud800", "\x00\x01\x02", "洪涝\udcff死亡1"])
def test_never_raises_on_odd_values(body):
    assert parse(body).kind in KINDS  # type: ignore[arg-type]


def test_help_text_fits_one_reply_even_in_a_drill():
    assert len("【演练】" + HELP_TEXT) <= 134
    for example in ("初报", "洪涝", "死亡", "零报告", "收到 E17", "更正 R12", "避难"):
        assert example in HELP_TEXT


def test_help_text_examples_parse():
    assert report("初报 洪涝 死亡0 失踪1 受伤0 转移120 倒塌2间 损失30万元").indicators == {
        "deaths": 0,
        "missing": 1,
        "injured": 0,
        "relocated": 120,
        "houses_collapsed": 2,
        "loss_10k_yuan": 30.0,
    }


def test_command_is_frozen():
    cmd = parse("洪涝 转移3")
    with pytest.raises(AttributeError):
        cmd.kind = "help"  # type: ignore[misc]


# ---------------------------------------------------------------------------------------------
# Properties
# ---------------------------------------------------------------------------------------------

_ALL_WORDS = sorted(
    {
        w
        for table in (COMMAND_WORDS, REPORT_KIND_WORDS, HAZARD_WORDS, INDICATOR_WORDS, SHELTER_ACTION_WORDS)
        for ws in table.values()
        for w in ws
    }
    | set(FILLER_WORDS)
)
_WORD_SET = frozenset(_ALL_WORDS)
_PIECES = (
    _ALL_WORDS
    + list(
        "0123456789０１２零〇一二两三四五六七八九十百千万亿点.-负RESZ人间户亩元公顷ha ,，、;；:：。！!"
        "【】（）()[]\n\t?？😀<>'\""
    )
    + ["S12", "E17", "R1203", "ZZ-001", "1,200", "1.5", "1e9"]
)


# database=None: no .hypothesis/ folder left in the working tree
_FAST = dict(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def _check(cmd: Command) -> None:
    assert isinstance(cmd, Command)
    assert cmd.kind in KINDS
    assert len(cmd.narrative) <= NARRATIVE_MAX
    assert cmd.narrative == cmd.narrative.strip()
    assert all(isinstance(p, str) and p for p in cmd.problems)
    for key, value in cmd.indicators.items():
        assert key in INDICATORS
        assert 0 <= value <= MAX_VALUE
        assert isinstance(value, int if INDICATORS[key][2] else float)
    if cmd.kind == "report":
        assert cmd.indicators or cmd.narrative


@settings(**_FAST)
@given(st.text())
def test_property_never_raises_on_any_text(body):
    _check(parse(body))


@settings(**_FAST)
@given(st.lists(st.sampled_from(_PIECES), max_size=40).map("".join))
def test_property_never_raises_on_keyword_soup(body):
    _check(parse(body))
    parse_number(body)


_SEPARATORS = [
    "",
    "",
    "",
    " ",
    "  ",
    ",",
    "，",
    "、",
    ";",
    "；",
    ":",
    "：",
    "。",
    "！",
    "\n",
    "\r\n",
    "\t",
    "【",
    "】",
    "(",
    ")",
    "（",
    "）",
    "[",
    "]",
    "\u3000",
]
_UNITS = {
    "people": ["", "人", "名", "口"],
    "house": ["", "间", "户", "座", "处"],
    "crop_ha": ["", "公顷", "ha", "HA"],
    "loss_10k_yuan": ["", "万元", "万"],
}
_KEYWORDS = {k: list(ws) + [INDICATORS[k][0]] for k, ws in INDICATOR_WORDS.items()}
_KEYWORDS["injured"] = [w for w in _KEYWORDS["injured"] if w not in ("重伤", "轻伤")]  # parts add up


def _unit_choices(key: str) -> list[str]:
    if key in _UNITS:
        return _UNITS[key]
    return _UNITS["house"] if key.startswith("houses") else _UNITS["people"]


def _join(parts: list[str], seps: list[str]) -> str:
    """Join with the drawn separators, adding a space only where two pieces would fuse into one
    (two numbers, two ASCII words, or characters that together spell another keyword)."""
    out = parts[0]
    for part, sep in zip(parts[1:], seps, strict=False):
        if not sep:
            a, b = out[-1], part[0]
            numberish = set("0123456789０１２３４５６７８９零〇一二两三四五六七八九十百千万亿点.")
            fuses = (a in numberish and b in numberish) or (
                a.isascii() and a.isalpha() and b.isascii() and b.isalnum()
            )
            # a keyword spanning the join (农作物 + 受灾 → 农作物受灾) would change the reading
            fuses = fuses or any(out[-i:] + part[:j] in _WORD_SET for i in range(1, 8) for j in range(1, 8))
            sep = " " if fuses else ""
        out += sep + part
    return out


@st.composite
def well_formed_reports(draw):
    kind = draw(st.sampled_from([None, *REPORT_KIND_WORDS]))
    kind_word = draw(st.sampled_from(REPORT_KIND_WORDS[kind])) if kind else None
    hazard = draw(st.sampled_from(sorted(HAZARD_WORDS)))
    hazard_word = draw(st.sampled_from(HAZARD_WORDS[hazard]))
    keys = draw(
        st.lists(st.sampled_from(sorted(INDICATORS)), min_size=1, max_size=len(INDICATORS), unique=True)
    )
    expected: dict[str, int] = {}
    parts: list[str] = [w for w in (kind_word, hazard_word) if w]
    for key in keys:
        value = draw(st.integers(0, MAX_VALUE) | st.integers(0, 2000))
        expected[key] = value
        style = draw(st.sampled_from(["arabic", "fullwidth", "chinese"]))
        if style == "chinese" and value < 10_000:
            number = cn2an.an2cn(value)
        elif style == "fullwidth":
            number = str(value).translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
        else:
            number = str(value)
        unit = draw(st.sampled_from(_unit_choices(key)))
        if number == "零" and "万" in unit:
            unit = ""  # nobody writes 零万元
        number += unit
        keyword = draw(st.sampled_from(_KEYWORDS[key]))
        if draw(st.booleans()):
            keyword = keyword.lower()
        inner = draw(st.sampled_from(_SEPARATORS))
        parts.append(
            _join([keyword, number], [inner]) if draw(st.booleans()) else _join([number, keyword], [inner])
        )
    seps = draw(st.lists(st.sampled_from(_SEPARATORS), min_size=len(parts) - 1, max_size=len(parts) - 1))
    return _join(parts, seps), kind, hazard, expected


@settings(**_FAST)
@given(well_formed_reports())
def test_property_well_formed_report_parses_back(case):
    body, kind, hazard, expected = case
    cmd = parse(body)
    assert cmd.kind == "report", (body, cmd)
    assert cmd.report_kind == kind, body
    assert cmd.hazard == hazard, body
    assert cmd.indicators == expected, body
    assert cmd.narrative == "", body


@pytest.mark.parametrize("written", ["1e308", "1E5", "2e3", "1e+9", "∞", "1" * 30])
def test_absurd_numbers_are_never_another_figure(written):
    """`转移1e308` used to be stored as 转移1 (the exponent left as text) without a word."""
    cmd = parse(f"初报 洪涝 转移{written} 死亡1")
    assert cmd.kind == "report" and cmd.indicators == {"deaths": 1}
    assert f"转移{written}"[:20] in cmd.narrative  # the words are kept
    assert any(f"转移{written}"[:20] in p for p in cmd.problems)  # and the reply says so


def test_a_message_of_nothing_but_an_absurd_figure_is_unparsed():
    cmd = parse("初报 洪涝 转移1e308")
    assert cmd.kind == "unparsed" and cmd.indicators == {} and cmd.problems


def test_a_correction_with_an_unreadable_figure_corrects_nothing():
    cmd = parse("更正 R3 死亡1e3 转移20")
    assert cmd.kind == "unparsed" and cmd.indicators == {}
