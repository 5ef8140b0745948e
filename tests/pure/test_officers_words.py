"""Issue 16, "Officers' own words": the national vocabulary, fillers, words for zero, totals over
breakdowns, acks and nils as people write them, and naming what was not understood. Pure."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, configuration, given, settings
from hypothesis import strategies as st

from core.exercises import DRILL_PREFIX
from core.indicators import INDICATORS
from reporter.grammar import FILLER_WORDS, HAZARD_WORDS, HELP_TEXT, INDICATOR_WORDS, Command, normalise, parse
from reporter.grammar.tokens import _tokenise

if not os.getenv("HYPOTHESIS_STORAGE_DIRECTORY"):
    configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "zaibao-hypothesis")
_FAST = dict(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def report(body: str) -> Command:
    cmd = parse(body)
    assert cmd.kind == "report", (body, cmd)
    return cmd


# ---- The national vocabulary ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "hazard"),
    [
        ("洪涝灾害", "flood"), ("暴雨洪涝", "flood"), ("暴雨", "flood"), ("山洪", "flood"), ("城市内涝", "flood"),
        ("干旱灾害", "drought"), ("旱情", "drought"), ("热带风暴", "typhoon"),
        ("雷电", "wind_hail"), ("雷击", "wind_hail"), ("龙卷风", "wind_hail"), ("大风灾害", "wind_hail"),
        ("寒潮", "cold"), ("冰冻", "cold"), ("结冰", "cold"), ("冻雨", "cold"), ("霜冻", "cold"), ("倒春寒", "cold"),
        ("冰雪灾害", "snow"), ("暴风雪", "snow"), ("沙尘", "sandstorm"), ("扬沙", "sandstorm"),
        ("地震灾害", "earthquake"), ("地面沉降", "geological"), ("地面塌陷", "geological"),
        ("地裂缝", "geological"), ("山体滑坡", "geological"), ("海冰", "marine"), ("赤潮", "marine"),
        ("森林火灾", "fire"), ("林火", "fire"), ("植物病虫害", "biological"), ("蝗灾", "biological"),
        ("鼠害", "biological"), ("干热风", "other"), ("高温", "other"), ("大雾", "other"), ("水土流失", "other"),
    ],
)
def test_hazard_names_of_the_standard_and_of_everyday_use(word, hazard):
    cmd = report(f"{word} 转移3人")
    assert (cmd.hazard, cmd.indicators, cmd.narrative) == (hazard, {"relocated": 3}, "")


@pytest.mark.parametrize(("key", "word"), [(k, w) for k, ws in HAZARD_WORDS.items() for w in ws])
def test_every_hazard_word_is_read_whole(key, word):
    assert report(f"{word} 死亡1").hazard == key


@pytest.mark.parametrize("body", ["雾霾 转移3人", "交通事故 死亡1", "停电 转移3人"])
def test_things_that_are_no_natural_hazard_are_no_hazard_word(body):
    assert parse(body).hazard is None


@pytest.mark.parametrize(
    ("body", "indicators"),
    [
        ("洪涝 农作物受灾面积300公顷", {"crop_ha": 300.0}),  # never 农作物 + 受灾300
        ("洪涝 农作物受灾面积 1200亩", {"crop_ha": 80.0}),
        ("洪涝 因灾死亡人口2人 因灾失踪人口1人", {"deaths": 2, "missing": 1}),
        ("洪涝 紧急转移安置人口300人", {"relocated": 300}),
        ("洪涝 需紧急生活救助人口50人", {"need_aid": 50}),
        ("洪涝 倒塌房屋3间 严重损坏房屋4间 一般损坏房屋5间",
         {"houses_collapsed": 3, "houses_severe": 4, "houses_damaged": 5}),
        ("洪涝 直接经济损失120万元", {"loss_10k_yuan": 120.0}),
        ("洪涝 受灾人口800人", {"affected": 800}),
        ("洪涝 因灾死亡3人 疏散200人", {"deaths": 3, "relocated": 200}),
    ],
)
def test_official_indicator_names_longest_first(body, indicators):
    assert report(body).indicators == indicators


@pytest.mark.parametrize("body", ["洪涝 农作物成灾面积200公顷", "洪涝 需过渡生活救助人口30人",
                                  "洪涝 农作物绝收面积50亩"])
def test_national_figures_we_do_not_store_lend_their_number_to_no_keyword(body):
    cmd = report(body)
    assert cmd.indicators == {} and cmd.narrative == body.removeprefix("洪涝 ")


# ---- Fillers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "indicators"),
    [
        ("洪涝 5间民房倒塌", {"houses_collapsed": 5}),
        ("洪涝 转移人数增至300人", {"relocated": 300}),
        ("洪涝 转移群众约300人", {"relocated": 300}),
        ("洪涝 转移村民共计120人", {"relocated": 120}),
        ("洪涝 死亡人数为0", {"deaths": 0}),
        ("洪涝 受灾人数已达2000人", {"affected": 2000}),
        ("洪涝 倒塌住房一共12间", {"houses_collapsed": 12}),
        ("洪涝 死亡 约 受伤 3人", {"injured": 3}),  # a number never jumps over another keyword
    ],
)
def test_fillers_between_a_keyword_and_its_number(body, indicators):
    assert report(body).indicators == indicators


# ---- Words for zero ---------------------------------------------------------------------------

_CASUALTIES_ZERO = {"deaths": 0, "injured": 0, "missing": 0}


@pytest.mark.parametrize(
    ("body", "indicators"),
    [
        ("洪涝 无人员伤亡", _CASUALTIES_ZERO),  # 伤亡 includes the missing (see lexicon_phrases)
        ("洪涝 暂无人员伤亡", _CASUALTIES_ZERO),
        ("洪涝 未造成人员伤亡", _CASUALTIES_ZERO),
        ("洪涝 无死亡失踪", {"deaths": 0, "missing": 0}),
        ("洪涝 无人死亡", {"deaths": 0}),
        ("洪涝 无人失踪", {"missing": 0}),
        ("洪涝 无房屋倒塌", {"houses_collapsed": 0}),
        ("洪涝 房屋无倒塌 转移30人", {"houses_collapsed": 0, "relocated": 30}),
        ("洪涝 受伤2人 无人员伤亡", {"deaths": 0, "injured": 2, "missing": 0}),  # an explicit number wins
        ("洪涝 无人员伤亡 死亡1人", {"deaths": 1, "injured": 0, "missing": 0}),  # wherever it stands
    ],
)
def test_zero_phrases(body, indicators):
    cmd = report(body)
    assert cmd.indicators == indicators and cmd.narrative == ""


def test_a_zero_phrase_that_states_nothing_new_stays_words():
    cmd = report("洪涝 死亡1 无人死亡")
    assert cmd.indicators == {"deaths": 1} and cmd.narrative == "无人死亡"


# ---- Totals over breakdowns -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "indicators", "narrative"),
    [
        ("转移：老人12人 儿童8人 共20人", {"relocated": 20}, "老人12人 儿童8人"),
        ("洪涝 转移 老人12人 儿童8人 合计20人 死亡0", {"relocated": 20, "deaths": 0}, "老人12人 儿童8人"),
        ("洪涝 受伤 重伤3人 轻伤2人 总计6人", {"injured": 6}, "重伤3人 轻伤2人"),
        ("洪涝 倒塌：正房3间 厨房2间 共计5间", {"houses_collapsed": 5}, "正房3间 厨房2间"),
        ("洪涝 死亡2人 受伤3人 共5人", {"deaths": 2, "injured": 3}, "共5人"),  # no breakdown: two figures
        ("洪涝 转移群众共计300人", {"relocated": 300}, ""),  # a total word with no parts is a filler
    ],
)
def test_a_total_beats_the_breakdown_before_it(body, indicators, narrative):
    cmd = report(body)
    assert (cmd.indicators, cmd.narrative) == (indicators, narrative)


# ---- Acks and nils as people write them -------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "target"),
    [("已收到", None), ("好的收到", None), ("好的，收到 E17", 17), ("收到，谢谢", None), ("嗯嗯 收到", None),
     ("OK收到", None), ("已确认 E3", 3), ("收到了", None)],
)
def test_acks_as_people_write_them(body, target):
    cmd = parse(body)
    assert (cmd.kind, cmd.target_id) == ("ack", target)


@pytest.mark.parametrize(
    "body", ["本村无灾情", "今日平安", "本村今日零报告", "本村今日无灾情，无人员伤亡", "平安 无人员伤亡 无房屋倒塌"])
def test_nils_as_people_write_them(body):
    assert parse(body).kind == "nil"


@pytest.mark.parametrize("body", ["他已收到通知 洪涝 转移3人", "平安村 洪涝 转移3人", "今日平安 洪涝 死亡1"])
def test_what_only_looks_like_an_ack_or_nil_is_a_report(body):
    assert parse(body).kind == "report"


# ---- Saying what was not understood -----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "named"),
    [("洪涝 死亡abc", "死亡abc"), ("洪涝 失踪若干 转移30", "失踪若干"), ("洪涝 死亡人数不详", "死亡人数不详"),
     ("洪涝 受伤？ 转移3人", "受伤?"), ("洪涝 倒塌 很多", "倒塌很多")],
)
def test_a_keyword_without_a_number_is_named_and_kept(body, named):
    cmd = report(body)
    assert any(named in p and "重发" in p for p in cmd.problems), cmd.problems
    assert named[:2] in cmd.narrative


@pytest.mark.parametrize("body", ["洪涝 房屋倒塌严重", "洪涝 转移30人 伤亡情况正在核实"])
def test_a_keyword_in_a_sentence_is_no_problem(body):
    assert report(body).problems == ()


@pytest.mark.parametrize(
    ("body", "hazard", "narrative"),
    [("洪水来了 很多人被困", "flood", "洪水来了 很多人被困"), ("因暴雨导致 倒塌3间", "flood", "因暴雨导致"),
     ("初报 洪涝 转移30", "flood", "")],
)
def test_the_hazard_word_of_a_sentence_stays_in_the_narrative(body, hazard, narrative):
    cmd = report(body)
    assert (cmd.hazard, cmd.narrative) == (hazard, narrative)


# ---- Replies within 2 SMS segments ------------------------------------------------------------


def test_help_text_leaves_room_to_name_problems_in_a_drill():
    frame = f"{DRILL_PREFIX}未能识别: 。{HELP_TEXT}"
    assert 134 - len(frame) >= 50


# ---- Properties: fillers and order never silently change a figure -----------------------------

_UNIT = {"crop_ha": "公顷", "loss_10k_yuan": "万元"}
_SEPS = [" ", "，", "、", "\n"]


def _unit(key: str) -> str:
    return _UNIT.get(key, "间" if key.startswith("houses") else "人")


def _keyword_read_whole(body: str, keyword: str) -> bool:
    """False where a filler glued to the keyword spells a longer word (受灾 + 面积 is 受灾面积, crop
    area): then the message says something else, and no figure was changed by a filler."""
    return any(tok.type == "ind" and tok.text == keyword for tok in _tokenise(normalise(body)))


@settings(**_FAST)
@given(
    key=st.sampled_from(sorted(INDICATORS)),
    data=st.data(),
    fillers=st.lists(st.sampled_from(FILLER_WORDS), min_size=1, max_size=3),
    value=st.integers(0, 9999),
    keyword_first=st.booleans(),
)
def test_property_fillers_never_change_a_figure(key, data, fillers, value, keyword_first):
    keyword = data.draw(st.sampled_from([w for w in INDICATOR_WORDS[key] if w not in ("重伤", "轻伤")]))
    filler = "".join(fillers)
    number = f"{value}{_unit(key)}"
    body = f"洪涝 {keyword}{filler}{number}" if keyword_first else f"洪涝 {number}{filler}{keyword}"
    assume(_keyword_read_whole(body, keyword))
    cmd = parse(body)
    assert cmd.indicators == {key: value if INDICATORS[key][2] else float(value)}, body


@settings(**_FAST)
@given(st.data())
def test_property_reordering_pairs_never_changes_a_figure(data):
    keys = data.draw(st.lists(st.sampled_from(sorted(INDICATORS)), min_size=1, max_size=6, unique=True))
    pieces, expected = [], {}
    for key in keys:
        value = data.draw(st.integers(0, 9999))
        expected[key] = value if INDICATORS[key][2] else float(value)
        keyword = data.draw(st.sampled_from([w for w in INDICATOR_WORDS[key] if w not in ("重伤", "轻伤")]))
        number = f"{value}{_unit(key)}"
        pieces.append(f"{keyword}{number}" if data.draw(st.booleans()) else f"{number}{keyword}")
    order = data.draw(st.permutations(pieces))
    seps = data.draw(st.lists(st.sampled_from(_SEPS), min_size=len(order), max_size=len(order)))
    body = "洪涝" + "".join(sep + piece for sep, piece in zip(seps, order, strict=True))
    assert parse(body).indicators == expected, body


def test_a_figure_written_as_a_number_keeps_a_report_a_report_even_beside_a_nil_word():
    assert parse("初报 洪涝 转移0人 群众平安").kind == "report"
