"""The SMS grammar (SPEC §3): one message body in, one :class:`Command` out.

Pure: plain values in, plain values out; no Flask, no database, no I/O. ``parse`` never raises.

How it works:

1. :func:`normalise` folds full-width characters to ASCII (０-９, Ａ-Ｚ, ，：；（）！？ …), drops
   zero-width characters and turns control characters into spaces.
2. ``_tokenise`` scans the text once. At each position it tries, in order: a separator, a Chinese
   keyword (longest match, so 受灾人口 beats 受灾 and 一般损坏 is never the numeral 一), a number
   (Arabic, decimal, Chinese numerals, 万/亿 multipliers, optional unit), an ASCII word (keyword or an
   id such as R1203 / E17 / S12 / ZZ-001), and otherwise one character of plain text.
3. The first token decides the command (after an optional drill prefix); the rest is read as a
   report body: kind, hazard, keyword/number pairs, narrative.
4. Pairing: keywords and numbers that follow each other (separators and filler words such as 约,
   群众, 房屋 in between are transparent; any other text breaks the chain) form paths; a dynamic
   programme picks the matching with the most pairs and, among those, the most pairs where the
   number follows its keyword ("a number belongs to the keyword before it").
5. Whatever was not used becomes the narrative (separators collapsed to one space, ≤ 200 chars).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import cn2an

from core.indicators import HAZARDS, INDICATORS, MAX_VALUE

__all__ = [
    "COMMAND_WORDS", "FILLER_WORDS", "HAZARD_WORDS", "HELP_TEXT", "INDICATOR_WORDS", "NARRATIVE_MAX",
    "REPORT_KIND_WORDS", "SHELTER_ACTION_WORDS", "Command", "normalise", "parse", "parse_number",
]

NARRATIVE_MAX = 200

HELP_TEXT = (
    "格式: 初报 洪涝 死亡0 失踪1 受伤0 转移120 倒塌2间 损失30万元 情况说明。"
    "无灾: 零报告。确认: 收到 E17。改数: 更正 R12 死亡1。找避难所: 避难 120人"
)


@dataclass(frozen=True)
class Command:
    """What one SMS asks for. See the module docstring and SPEC §3."""

    kind: str  # help | ack | correction | shelter_query | shelter_update | nil | report | unparsed
    drill: bool = False
    report_kind: str | None = None  # initial | update | final; None when omitted
    hazard: str | None = None  # hazard key, None when omitted
    indicators: dict[str, float | int] = field(default_factory=dict)  # canonical units
    narrative: str = ""
    target_id: int | None = None  # R1203 -> 1203 (correction), E17 -> 17 (ack)
    shelter_code: str | None = None  # upper-cased, as written ("S12", "ZZ-001")
    shelter_action: str | None = None  # occupancy | full | closed | open
    value: int | None = None  # occupancy (shelter_update) or people count (shelter_query)
    problems: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------------------------

# SPEC §3.2, plus the Chinese names of core.indicators.HAZARDS and a few everyday words.
HAZARD_WORDS: dict[str, tuple[str, ...]] = {
    "flood": ("洪涝", "洪水", "水灾", "内涝", "暴雨", "山洪", "FLOOD"),
    "drought": ("干旱", "旱灾", "DROUGHT"),
    "typhoon": ("台风", "TYPHOON"),
    "wind_hail": ("风雹", "冰雹", "大风", "龙卷风", "HAIL", "WIND"),
    "cold": ("低温冷冻", "低温", "冷冻", "冻害", "霜冻", "COLD"),
    "snow": ("雪灾", "暴雪", "SNOW"),
    "sandstorm": ("沙尘暴", "SANDSTORM"),
    "earthquake": ("地震", "EARTHQUAKE", "QUAKE"),
    "geological": ("地质灾害", "滑坡", "泥石流", "崩塌", "LANDSLIDE"),
    "marine": ("海洋灾害", "风暴潮", "海啸", "MARINE"),
    "fire": ("森林草原火灾", "森林火灾", "草原火灾", "山火", "火灾", "FIRE"),
    "biological": ("生物灾害", "病虫害", "PEST"),
    "other": ("其他灾害",),
}

# SPEC §3.2, plus the official names (core.indicators.INDICATORS) and common variants.
INDICATOR_WORDS: dict[str, tuple[str, ...]] = {
    "affected": ("受灾", "受灾人口", "AFFECTED"),
    "deaths": ("死亡", "遇难", "死", "DEAD", "DEATHS", "DEATH"),
    "missing": ("失踪", "MISSING"),
    "injured": ("受伤", "伤", "重伤", "轻伤", "INJURED"),
    "relocated": ("转移", "转移安置", "安置", "撤离", "紧急转移", "紧急转移安置", "EVAC", "RELOCATED"),
    "need_aid": ("救助", "需救助", "AID"),
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

# Words that may stand between a keyword and its number without breaking the pair
# (转移群众约300人, 5间房屋倒塌, 死亡人数为0). Unpaired, they stay in the narrative.
FILLER_WORDS = ("约", "大约", "近", "共", "共计", "合计", "累计", "总计", "计", "达", "为", "有", "了", "的",
                "群众", "村民", "人员", "人口", "人数", "房屋", "房", "面积")

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
_IND, _NUM, _HAZ, _KIND, _CMD, _ACT, _CODE, _FILL, _TEXT = (
    "ind", "num", "haz", "kind", "cmd", "act", "code", "fill", "text")


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

# ---------------------------------------------------------------------------------------------
# Normalising
# ---------------------------------------------------------------------------------------------

_TRANSLATE: dict[int, int | str | None] = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
_TRANSLATE.update({
    0x3000: " ", 0x00A0: " ", 0x2212: "-", 0xFF61: "。", 0xFF64: "、",
    0xFE50: ",", 0xFE51: "、", 0xFE52: ".", 0xFE54: ";", 0xFE55: ":", 0xFE56: "?", 0xFE57: "!",
    0xFE59: "(", 0xFE5A: ")",
    0x200B: None, 0x200C: None, 0x200D: None, 0x2060: None, 0xFEFF: None, 0x00AD: None,
})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def normalise(body: str) -> str:
    """Full-width → half-width (０-９ Ａ-Ｚ ，：；（）！？ …), ideographic space → space, zero-width
    characters removed, control characters → space, CRLF → LF. Case is kept; length may shrink."""
    if not isinstance(body, str):
        body = "" if body is None else (body.decode("utf-8", "replace") if isinstance(body, bytes)
                                        else str(body))
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text).translate(_TRANSLATE)
    return _CONTROL.sub(" ", text)


_SEP_CHARS = frozenset(",、;:。!【】()[]")


def _is_sep(text: str, i: int) -> bool:
    ch = text[i]
    if ch in _SEP_CHARS or ch.isspace():
        return True
    if ch == ".":  # a full stop, unless it is a decimal point
        return not (0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit())
    return False


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


def _is_ascii_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------

_CN_DIGITS = "零〇一二两三四五六七八九"
_NUM_START = frozenset("0123456789" + _CN_DIGITS + "十")
_NUM_BODY = frozenset("0123456789." + _CN_DIGITS + "十百千万亿点")
_RE_ARABIC = re.compile(r"\d+(?:\.\d+)?")
_RE_MIXED = re.compile(r"\d+(?:\.\d+)?[十百千万亿][0-9零〇十百千万亿]*")
_RE_CHINESE = re.compile(rf"[{_CN_DIGITS}十][{_CN_DIGITS}十百千万亿]*(?:点[{_CN_DIGITS}]+)?")
_NUM_RUN_MAX = 40
_MAX_DIGITS = 60  # longer digit strings are "too large" without being converted


def _core_value(core: str) -> Decimal | None:
    """The value of a number written without sign or unit, or None if it is not one."""
    if _RE_ARABIC.fullmatch(core):
        if len(core) > _MAX_DIGITS:
            return Decimal("Infinity")
        return Decimal(core)
    if len(core) > _NUM_RUN_MAX or not (_RE_MIXED.fullmatch(core) or _RE_CHINESE.fullmatch(core)):
        return None
    try:
        value = cn2an.cn2an(core, "smart")
    except Exception:  # noqa: BLE001 - cn2an signals "not a numeral" with assorted exceptions
        return None
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() else None


def _number_run_end(text: str, i: int) -> int:
    """End of the longest stretch from i that could be a numeral, stopping before a keyword.

    Arabic digits are taken whole however many there are (so a 70-digit figure is refused as too
    large rather than split); Chinese numeral characters only up to a bounded length."""
    j = i
    n = len(text)
    while j < n and text[j] in _NUM_BODY:
        if text[j].isdigit():
            j += 1
            continue
        if j - i >= _NUM_RUN_MAX or (j > i and text[j] in _CJK_FIRST and _match_cjk(text, j)):
            break
        j += 1
    return j


def parse_number(text: str) -> float | None:
    """`120`, `1.5`, `１２０`, `1,200`, `三十五`, `两百`, `一千二百`, `1.2万`, `2亿`, `-3` → float; else None.

    The whole text (after trimming) must be the number: no units. Values too long to convert are
    returned as ``inf`` so callers can refuse them as too large."""
    try:
        s = normalise(text).strip()
        negative = False
        if s[:1] in ("-", "负"):
            negative, s = True, s[1:].strip()
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
            s = s.replace(",", "")
        value = _core_value(s) if s else None
        if value is None:
            return None
        result = float(value)
        return -result if negative else result
    except Exception:  # noqa: BLE001 - documented never to raise
        return None


# ---------------------------------------------------------------------------------------------
# Tokens
# ---------------------------------------------------------------------------------------------


@dataclass
class _Tok:
    type: str
    value: str
    start: int
    end: int
    text: str = ""
    # numbers only
    num: Decimal | None = None
    negative: bool = False
    unit: str | None = None  # unit as written (upper-cased for ASCII)
    unit_cat: str | None = None  # people | house | area | money | other | None
    big: bool = False  # written with 万/亿 (money: an amount in 元)
    chinese_only: bool = False  # written with Chinese numerals only


def _match_cjk(text: str, i: int) -> tuple[str, str, int] | None:
    for length in range(min(_CJK_MAX, len(text) - i), 0, -1):
        hit = _CJK_WORDS.get(text[i:i + length])
        if hit is not None:
            return hit[0], hit[1], i + length
    return None


_RE_CODE = re.compile(r"[A-Za-z]{1,8}-?\d{1,12}(?:-[A-Za-z0-9]{1,12})*(?![0-9])")
_RE_LETTERS = re.compile(r"[A-Za-z]+")


def _scan_unit(text: str, i: int) -> tuple[str | None, str | None, int, int] | None:
    """A unit at i (after optional spaces/approximation words): (unit, category, multiplier, end)."""
    j = i
    if j < len(text) and text[j] in "余多":  # 300余人, 300多人
        j += 1
    approx_end = j
    while j < len(text) and text[j] in " \t":
        j += 1
    for length in range(min(_UNIT_MAX, len(text) - j), 0, -1):
        word = text[j:j + length]
        key = word.upper() if word.isascii() else word
        hit = _UNITS.get(key)
        if hit is None:
            continue
        end = j + length
        if key.isascii() and key.isalpha() and end < len(text) and _is_ascii_letter(text[end]):
            continue  # "2 MISSING" is not 2 metres
        if hit[0] == "other" and j > approx_end:
            break  # 转移300 次日… : only indicator units are looked for across a space
        return key, hit[0], hit[1], end
    return (None, None, 1, approx_end) if approx_end > i else None


def _scan_number(text: str, i: int) -> _Tok | None:
    start = i
    negative = False
    ch = text[i]
    if ch in "-负":
        if ch == "-" and i > 0 and text[i - 1].isdigit():  # 1-2人 is a range, not -2
            return None
        negative = True
        i += 1
        if i >= len(text) or text[i] not in _NUM_START:
            return None
    elif ch not in _NUM_START:
        return None
    run_end = _number_run_end(text, i)
    for end in range(run_end, i, -1):
        core = text[i:end]
        value = _core_value(core)
        if value is None:
            continue
        tok = _Tok(_NUM, core, start, end, num=value, negative=negative,
                   big=("万" in core or "亿" in core), chinese_only=not any(c.isdigit() for c in core))
        unit = _scan_unit(text, end)
        if unit is not None:
            tok.unit, tok.unit_cat, mult, tok.end = unit
            if mult != 1:
                tok.num = value * mult
                tok.big = True
        tok.text = text[start:tok.end]
        return tok
    return None


def _tokenise(text: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i, n = 0, len(text)
    while i < n:
        if _is_sep(text, i):
            i += 1
            continue
        ch = text[i]
        if not ch.isascii():
            hit = _match_cjk(text, i)
            if hit is not None:
                typ, value, end = hit
                if value == "nil" and text[i:end] == "平安" and end < n and text[end] in _PLACE_SUFFIX:
                    typ = _TEXT  # 平安村 is a village, not "all is well"
                toks.append(_Tok(typ, value, i, end, text[i:end]))
                i = end
                continue
        if ch in _NUM_START or ch in "-负":
            tok = _scan_number(text, i)
            if tok is not None:
                toks.append(tok)
                i = tok.end
                continue
        if _is_ascii_letter(ch) and not (i > 0 and _is_ascii_letter(text[i - 1])):
            word = text[i:_RE_LETTERS.match(text, i).end()]  # type: ignore[union-attr]  # ch is a letter
            code = _RE_CODE.match(text, i)
            hit = _ASCII_WORDS.get(word.upper())
            if code is not None and (hit is None or ("-" in code.group() and hit[0] != _IND)):
                toks.append(_Tok(_CODE, code.group().upper(), i, code.end(), code.group()))
                i = code.end()
                continue
            if hit is not None:
                toks.append(_Tok(hit[0], hit[1], i, i + len(word), word))
            else:
                toks.append(_Tok(_TEXT, "", i, i + len(word), word))
            i += len(word)
            continue
        if ch == "?":
            toks.append(_Tok(_CMD, "help", i, i + 1, ch))
        else:
            toks.append(_Tok(_TEXT, "", i, i + 1, ch))
        i += 1
    _demote_stray_numerals(toks)
    return toks


def _demote_stray_numerals(toks: list[_Tok]) -> None:
    """一些, 两岸, 十字路口, 第一: a bare Chinese numeral glued to ordinary Chinese text is text."""
    for k, tok in enumerate(toks):
        if tok.type != _NUM or not tok.chinese_only or tok.unit is not None:
            continue
        before = toks[k - 1] if k > 0 else None
        after = toks[k + 1] if k + 1 < len(toks) else None
        glued_before = (before is not None and before.type == _TEXT and before.end == tok.start
                        and _is_cjk(before.text[-1]))
        glued_after = (after is not None and after.type == _TEXT and after.start == tok.end
                       and _is_cjk(after.text[0]))
        if glued_before or glued_after:
            tok.type = _TEXT


# ---------------------------------------------------------------------------------------------
# Reading a body
# ---------------------------------------------------------------------------------------------


class _Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)


def _compatible(key: str, unit_cat: str | None) -> bool:
    if unit_cat is None:
        return True
    if unit_cat in ("people", "house"):
        return key in _COUNT_KEYS
    if unit_cat == "area":
        return key in ("crop_ha", "affected")  # 受灾300亩 is an area
    if unit_cat == "money":
        return key == "loss_10k_yuan"
    return False


def _edge(a: _Tok, b: _Tok) -> int | None:
    """1 if a (keyword) is followed by b (number), 0 for number then keyword, None if no pair."""
    if a.type == _IND and b.type == _NUM:
        return 1 if _compatible(a.value, b.unit_cat) else None
    if a.type == _NUM and b.type == _IND:
        return 0 if _compatible(b.value, a.unit_cat) else None
    return None


def _best_pairs(nodes: list[int], toks: list[_Tok]) -> list[tuple[int, int]]:
    """Maximum matching on a path, ties to keyword-then-number. Returns (index, index) pairs."""
    n = len(nodes)
    best: list[tuple[int, int]] = [(0, 0)] * (n + 1)
    took = [False] * (n + 1)
    for i in range(1, n + 1):
        best[i], took[i] = best[i - 1], False
        if i >= 2:
            forward = _edge(toks[nodes[i - 2]], toks[nodes[i - 1]])
            if forward is not None:
                cand = (best[i - 2][0] + 1, best[i - 2][1] + forward)
                if cand > best[i]:
                    best[i], took[i] = cand, True
    pairs = []
    i = n
    while i >= 2:
        if took[i]:
            pairs.append((nodes[i - 2], nodes[i - 1]))
            i -= 2
        else:
            i -= 1
    return pairs[::-1]


def _pair_up(toks: list[_Tok], indices: list[int]) -> list[tuple[int, int, list[int]]]:
    """(keyword index, number index, filler indices between them) for the chosen pairs."""
    segments: list[list[int]] = [[]]
    for k in indices:
        tok = toks[k]
        if tok.type == _FILL:
            continue
        if tok.type == _IND or (tok.type == _NUM and tok.unit_cat != "other"):
            segments[-1].append(k)
        elif segments[-1]:
            segments.append([])
    result = []
    for seg in segments:
        for a, b in _best_pairs(seg, toks):
            kw, num = (a, b) if toks[a].type == _IND else (b, a)
            fillers = [k for k in indices if a < k < b and toks[k].type == _FILL]
            result.append((kw, num, fillers))
    return result


_Q4 = Decimal("0.0001")
_INJURY_PARTS = frozenset(("重伤", "轻伤"))


def _indicator_value(key: str, num: _Tok, kw: _Tok, problems: _Problems) -> tuple[str, float | int] | None:
    """The canonical value for keyword+number, or None (with a problem) when it is refused."""
    written = f"{kw.text}{num.text}" if kw.start < num.start else f"{num.text}{kw.text}"
    if len(written) > 24:  # replies are short; a 70-digit figure need not be quoted in full
        written = written[:22] + "…"
    if num.negative:
        problems.add(f"“{written}”: 数字不能为负，已忽略")
        return None
    value = num.num if num.num is not None else Decimal(0)
    if key == "affected" and num.unit_cat == "area":
        key = "crop_ha"
    if key == "crop_ha" and num.unit == "亩":
        value = value / 15
    if key == "loss_10k_yuan" and (num.unit_cat == "money" or num.big):
        value = value / 10_000  # an amount in 元 (5000元, 5万, 2亿元) → 万元
    if not value.is_finite() or value > MAX_VALUE:
        problems.add(f"“{written}”: 数字过大(上限{MAX_VALUE})，已忽略")
        return None
    if key in _COUNT_KEYS:
        if value != value.to_integral_value():
            problems.add(f"“{written}”: 人数和房屋间数须为整数，已忽略")
            return None
        return key, int(value)
    return key, float(value.quantize(_Q4, rounding=ROUND_HALF_UP))


@dataclass
class _Body:
    report_kind: str | None = None
    hazard: str | None = None
    indicators: dict[str, float | int] = field(default_factory=dict)
    attempted: int = 0  # keyword/number pairs found, including refused ones
    nonzero: bool = False
    nil_word: bool = False
    used: set[int] = field(default_factory=set)


def _read_body(toks: list[_Tok], indices: list[int], problems: _Problems) -> _Body:
    """Kind, hazard and indicators from the given tokens; marks what it used."""
    body = _Body()
    header = True
    for k in indices:
        tok = toks[k]
        if tok.type == _KIND and body.report_kind is None and (header or not tok.text.isascii()):
            body.report_kind = tok.value
            body.used.add(k)
        elif tok.type == _HAZ and body.hazard is None:
            body.hazard = tok.value
            body.used.add(k)
        elif tok.type == _CMD and tok.value == "nil":
            body.nil_word = True
        if tok.type not in (_KIND, _HAZ):
            header = False
    rest = [k for k in indices if k not in body.used]
    parts: dict[str, int | float] = {}  # 重伤3人 轻伤2人: parts of the injured count, added up
    for kw, num, fillers in _pair_up(toks, rest):
        body.used.update((kw, num, *fillers))
        body.attempted += 1
        got = _indicator_value(toks[kw].value, toks[num], toks[kw], problems)
        if got is None:
            continue
        key, value = got
        body.nonzero = body.nonzero or bool(value)
        word = toks[kw].text
        if key == "injured" and word in _INJURY_PARTS:
            if word in parts and parts[word] != value:
                problems.add(f"{word}重复出现，取最后一个数({value})")
            parts[word] = value
            continue
        if key in body.indicators and body.indicators[key] != value:
            problems.add(f"{word}等重复出现，取最后一个数({value})")
        body.indicators[key] = value
    if parts and "injured" not in body.indicators:  # a total given as 受伤N wins over its parts
        body.indicators["injured"] = sum(parts.values())
    return body


_RE_NARRATIVE_SEP = re.compile(r"(?:[\s,、;:。!【】()\[\]\x00]|(?<!\d)\.|\.(?!\d))+")


def _narrative(text: str, toks: list[_Tok], keep: list[int], problems: _Problems) -> str:
    """The text of the kept tokens, in order, separators collapsed to one space, ≤ 200 chars."""
    if not keep:
        return ""
    chars = ["\x00"] * len(text)
    for k in keep:
        tok = toks[k]
        chars[tok.start:tok.end] = text[tok.start:tok.end]
    # everything else (separators, used tokens) is now \x00 and collapses to one space
    out = _RE_NARRATIVE_SEP.sub(" ", "".join(chars)).strip()
    if len(out) > NARRATIVE_MAX:
        out = out[:NARRATIVE_MAX].rstrip()
        problems.add(f"情况说明超过{NARRATIVE_MAX}字，已截断")
    return out


def _meaningful(text: str) -> bool:
    return any(ch.isalnum() for ch in text)


def _small_id(digits: str, problems: _Problems) -> int | None:
    value = int(digits)
    if value > 2_147_483_647:
        problems.add(f"编号{digits}无效")
        return None
    return value


_RE_ID = re.compile(r"([A-Z])(\d{1,12})")
_Done = Callable[..., Command]


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def parse(body: str) -> Command:
    """Read one SMS body. Never raises: anything unreadable is ``kind="unparsed"`` with problems."""
    try:
        return _parse(body)
    except Exception:  # noqa: BLE001 - a message must never crash the webhook
        return Command(kind="unparsed", problems=("无法识别短信内容",))


def _parse(body: str) -> Command:
    problems = _Problems()
    raw = body if isinstance(body, str) else ""
    if re.search(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d.])", raw):
        problems.add("逗号视为分隔，数字请勿用逗号分千位(如写1200)")
    text = normalise(body)
    toks = _tokenise(text)
    idx = list(range(len(toks)))

    drill = False
    if idx and toks[0].type == _CMD and toks[0].value == "drill":
        drill, idx = True, idx[1:]

    def done(kind: str, keep: list[int] | None = None, **kw: object) -> Command:
        narrative = _narrative(text, toks, keep or [], problems)
        return Command(kind=kind, drill=drill, narrative=narrative, problems=tuple(problems.items),
                       **kw)  # type: ignore[arg-type]  # fields checked by Command itself

    if not any(_meaningful(toks[k].text) or toks[k].type != _TEXT for k in idx):
        problems.add("短信内容为空或无法识别")
        return done("unparsed", idx)

    first = toks[idx[0]]
    if all(toks[k].type == _CMD and toks[k].value == "help" for k in idx):
        return done("help")
    if first.type == _CMD and first.value == "ack":
        return _ack(toks, idx[1:], problems, done)
    if first.type == _CMD and first.value == "fix":
        return _correction(toks, idx[1:], problems, done)
    if first.type == _CMD and first.value == "shelter":
        return _shelter(toks, idx[1:], problems, done)
    if first.type == _CMD and first.value == "nil":
        return _nil(toks, idx[1:], problems, done)
    return _report(toks, idx, problems, done, text)


def _ack(toks: list[_Tok], idx: list[int], problems: _Problems, done: _Done) -> Command:
    target = None
    rest = idx
    if idx:
        tok = toks[idx[0]]
        m = _RE_ID.fullmatch(tok.value) if tok.type == _CODE else None
        if m and m.group(1) == "E":
            target, rest = _small_id(m.group(2), problems), idx[1:]
            if target is None:
                return done("unparsed", idx)
        elif tok.type == _CODE:
            problems.add(f"确认编号应为E开头，如: 收到 E17（收到的是{tok.value}）")
            return done("unparsed", idx)
        elif tok.type == _NUM and not tok.negative and tok.unit is None and not tok.chinese_only \
                and tok.value.isdigit():
            target, rest = _small_id(tok.value, problems), idx[1:]
            if target is None:
                return done("unparsed", idx)
    return done("ack", rest, target_id=target)


def _correction(toks: list[_Tok], idx: list[int], problems: _Problems, done: _Done) -> Command:
    tok = toks[idx[0]] if idx else None
    m = _RE_ID.fullmatch(tok.value) if tok is not None and tok.type == _CODE else None
    if not m or m.group(1) != "R":
        problems.add("更正需写报告编号，如: 更正 R1203 死亡1")
        return done("unparsed", idx)
    target = _small_id(m.group(2), problems)
    if target is None:
        return done("unparsed", idx)
    rest = idx[1:]
    body = _read_body(toks, rest, problems)
    keep = [k for k in rest if k not in body.used]
    cmd = done("correction", keep, target_id=target, hazard=body.hazard, report_kind=body.report_kind,
               indicators=body.indicators)
    if not body.indicators and not _meaningful(cmd.narrative):
        problems.add("更正内容为空，如: 更正 R1203 死亡1")
        return done("unparsed", idx, target_id=target)
    return cmd


def _positive_int(tok: _Tok, problems: _Problems, what: str) -> int | None:
    if tok.negative:
        problems.add(f"{what}不能为负数({tok.text})")
        return None
    value = tok.num if tok.num is not None else Decimal(0)
    if not value.is_finite() or value > MAX_VALUE:
        problems.add(f"{what}过大({tok.text})")
        return None
    if value != value.to_integral_value():
        problems.add(f"{what}须为整数({tok.text})")
        return None
    return int(value)


_SHELTER_HINT = "避难所更新格式: 避难 S12 入住230 / 避难 S12 满 / 关闭 / 开放"


def _shelter(toks: list[_Tok], idx: list[int], problems: _Problems, done: _Done) -> Command:
    people_units = (None, "people")
    if not idx or toks[idx[0]].type != _CODE:
        value = None
        used: set[int] = set()
        for k in idx:
            tok = toks[k]
            if tok.type == _NUM and tok.unit_cat in people_units:
                value = _positive_int(tok, problems, "人数")
                used.add(k)
                break
        return done("shelter_query", [k for k in idx if k not in used], value=value)
    code_tok = toks[idx[0]]
    code = code_tok.value
    rest = idx[1:]
    action = None
    value = None
    used = set()
    for pos, k in enumerate(rest):
        tok = toks[k]
        if tok.type == _ACT and tok.value != "occupancy":
            action = tok.value
            used.add(k)
            break
        if tok.type == _ACT:  # 入住230 or 230人入住
            nxt = rest[pos + 1] if pos + 1 < len(rest) else None
            prv = rest[pos - 1] if pos > 0 else None
            for other in (nxt, prv):
                if other is not None and toks[other].type == _NUM and toks[other].unit_cat in people_units:
                    action = "occupancy"
                    used.update((k, other))
                    break
            if action:
                break
        if tok.type == _NUM and tok.unit_cat in people_units:
            action = "occupancy"
            used.add(k)
            nxt = rest[pos + 1] if pos + 1 < len(rest) else None
            if nxt is not None and toks[nxt].type == _ACT and toks[nxt].value == "occupancy":
                used.add(nxt)
            break
    if action is None:
        problems.add(_SHELTER_HINT)
        return done("unparsed", idx, shelter_code=code)
    if action == "occupancy":
        num = next(toks[k] for k in sorted(used) if toks[k].type == _NUM)
        value = _positive_int(num, problems, "入住人数")
        if value is None:
            return done("unparsed", idx, shelter_code=code)
    keep = [k for k in rest if k not in used]
    return done("shelter_update", keep, shelter_code=code, shelter_action=action, value=value)


def _nil(toks: list[_Tok], idx: list[int], problems: _Problems, done: _Done) -> Command:
    scratch = _Problems()
    body = _read_body(toks, idx, scratch)
    if body.nonzero:
        problems.add("零报告中含有灾情数字；如有灾情请发送初报")
    hazard_used = {k for k in idx if toks[k].type == _HAZ and k in body.used}
    keep = [k for k in idx if k not in hazard_used]
    return done("nil", keep, hazard=body.hazard)


def _report(toks: list[_Tok], idx: list[int], problems: _Problems, done: _Done, text: str) -> Command:
    body = _read_body(toks, idx, problems)
    keep = [k for k in idx if k not in body.used]
    if not body.indicators and body.attempted == 0 and body.nil_word:
        # 本村无灾情 / 今日平安: only a nil word to go on; a nil report, not an incident.
        nil_keep = [k for k in idx if not (toks[k].type == _HAZ and k in body.used)]
        return done("nil", nil_keep, hazard=body.hazard)
    probe = _narrative(text, toks, keep, _Problems())
    has_narrative = _meaningful(probe)
    if body.hazard is None and body.report_kind is None and not body.indicators:
        if body.attempted == 0:
            problems.add("未识别到灾种或灾情数字")
        return done("unparsed", keep)
    if not body.indicators and not has_narrative:
        if body.attempted == 0:
            problems.add("缺少灾情数字或情况说明，如: 初报 洪涝 转移30")
        return done("unparsed", keep, hazard=body.hazard, report_kind=body.report_kind)
    return done("report", keep, hazard=body.hazard, report_kind=body.report_kind,
                indicators=body.indicators)
