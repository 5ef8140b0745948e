"""Normalising text and reading numbers, for the SMS grammar.

Officers type numbers every way a phone allows: Arabic or full-width digits, decimals, Chinese
numerals (三十五, 两百), 万/亿 multipliers, with or without a unit (人, 间, 亩, 万元 …). This module
folds full-width text to ASCII (:func:`normalise`) and turns such a run into a value
(:func:`parse_number`, ``_core_value``) and a unit (``_scan_unit``); the tokeniser builds its
number tokens from these pieces.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation

import cn2an

from reporter.grammar.lexicon import _CJK_FIRST, _UNIT_MAX, _UNITS, _match_cjk

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


def _is_ascii_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


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
