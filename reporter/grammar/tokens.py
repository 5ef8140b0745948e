"""The SMS grammar's tokeniser: one left-to-right scan of a normalised message into tokens.

At each position it tries a separator, a Chinese keyword (longest match), a number with its unit,
an ASCII word or id (R1203, E17, ZZ-001), and otherwise one character of plain text; then bare
Chinese numerals glued to ordinary text (一些, 第一) are turned back into text. Everything after
this step works on the ``_Tok`` list, never on the raw characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from reporter.grammar.lexicon import _ASCII_WORDS, _CMD, _CODE, _IND, _NUM, _PLACE_SUFFIX, _TEXT, _match_cjk
from reporter.grammar.numbers import _NUM_START, _core_value, _is_ascii_letter, _number_run_end, _scan_unit

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
    unreadable: bool = False  # looks like a number but is no figure we store (1e308, ∞)


_RE_CODE = re.compile(r"[A-Za-z]{1,8}-?\d{1,12}(?:-[A-Za-z0-9]{1,12})*(?![0-9])")
_RE_LETTERS = re.compile(r"[A-Za-z]+")
_RE_EXPONENT = re.compile(r"[eE][+-]?\d+")


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
    exponent = _RE_EXPONENT.match(text, run_end) if text[run_end - 1].isdigit() else None
    if exponent is not None:  # 1e308: scientific notation is no way to count people
        return _Tok(_NUM, text[i:exponent.end()], start, exponent.end(), text[start:exponent.end()],
                    negative=negative, unreadable=True)
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
        if ch == "∞":
            toks.append(_Tok(_NUM, ch, i, i + 1, ch, unreadable=True))
        elif ch == "?":
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
