"""Reading a report's body (SPEC §3.2): kind, hazard, keyword/number pairs, totals over
breakdowns and words for zero, then the narrative of whatever was left. Shared by reports, nil
reports and corrections (`commands`). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reporter.grammar.lexicon import _CMD, _FILL, _HAZ, _IND, _KIND, _TEXT, _ZERO
from reporter.grammar.lexicon_phrases import VAGUE_WORDS, ZERO_PHRASES
from reporter.grammar.pairing import _indicator_value, _pair_up, _Problems, _totals
from reporter.grammar.tokens import _Tok

NARRATIVE_MAX = 200

_INJURY_PARTS = frozenset(("重伤", "轻伤"))


@dataclass
class _Body:
    report_kind: str | None = None
    hazard: str | None = None
    indicators: dict[str, float | int] = field(default_factory=dict)
    attempted: int = 0  # keyword/number pairs found, including refused ones
    refused: set[int] = field(default_factory=set)  # tokens of pairs whose number is no usable figure
    nonzero: bool = False
    nil_word: bool = False
    used: set[int] = field(default_factory=set)


def _read_body(toks: list[_Tok], indices: list[int], problems: _Problems) -> _Body:
    """Kind, hazard and indicators from the given tokens; marks what it used."""
    body = _Body()
    header = True
    zero_phrases: list[int] = []
    for k in indices:
        tok = toks[k]
        if tok.type == _KIND and body.report_kind is None and (header or not tok.text.isascii()):
            body.report_kind = tok.value
            body.used.add(k)
        elif tok.type == _HAZ and body.hazard is None:
            body.hazard = tok.value
            if not _in_sentence(toks, k):
                body.used.add(k)
        elif tok.type == _CMD and tok.value == "nil":
            body.nil_word = True
        elif tok.type == _ZERO:
            zero_phrases.append(k)
        if tok.type not in (_KIND, _HAZ):
            header = False
    rest = [k for k in indices if k not in body.used]
    parts: dict[str, int | float] = {}  # 重伤3人 轻伤2人: parts of the injured count, added up
    for kw, num, fillers in _pairs(toks, rest):
        body.attempted += 1
        got = _indicator_value(toks[kw].value, toks[num], toks[kw], problems)
        if got is None:  # refused (the problem says why): its words stay in the narrative
            body.refused.update((kw, num))
            continue
        body.used.update((kw, num, *fillers))
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
    for k in zero_phrases:  # 无人员伤亡: zero, unless the message gives that figure itself
        stated = [key for key in ZERO_PHRASES[toks[k].value] if key not in body.indicators]
        body.indicators.update(dict.fromkeys(stated, 0))
        if stated:
            body.used.add(k)
    for k in rest:
        if toks[k].type == _IND and k not in body.used and k not in body.refused:
            _name_missing_figure(toks, k, problems)
    return body


def _pairs(toks: list[_Tok], rest: list[int]) -> list[tuple[int, int, list[int]]]:
    """(keyword, number, fillers) in message order: totals over breakdowns first, then the pairing
    of what lies around them (a breakdown's parts are words, paired with nothing)."""
    pairs: list[tuple[int, int, list[int]]] = []
    start = 0
    for head, _first_part, total_word, total_num in _totals(toks, rest):
        pairs.extend(_pair_up(toks, rest[start:head]))
        pairs.append((rest[head], rest[total_num], rest[total_word:total_num]))
        start = total_num + 1
    pairs.extend(_pair_up(toks, rest[start:]))
    return sorted(pairs, key=lambda pair: min(pair[0], pair[1]))


def _in_sentence(toks: list[_Tok], k: int) -> bool:
    """A hazard word glued to ordinary words (洪水来了, 因暴雨导致) is part of the narrative too."""
    tok = toks[k]
    words = (_TEXT, _FILL)
    before = toks[k - 1] if k > 0 else None
    after = toks[k + 1] if k + 1 < len(toks) else None
    return ((before is not None and before.type in words and before.end == tok.start)
            or (after is not None and after.type in words and after.start == tok.end))


def _name_missing_figure(toks: list[_Tok], k: int, problems: _Problems) -> None:
    """死亡abc, 失踪若干, 死亡人数不详: a keyword whose figure is words, named so the officer resends it."""
    j = k + 1
    while j < len(toks) and toks[j].type == _FILL:
        j += 1
    if j == len(toks):
        return
    glued = toks[j].text
    for m in range(j + 1, min(j + 4, len(toks))):
        if toks[m].start != toks[m - 1].end:
            break
        glued += toks[m].text
    nxt = toks[j]
    if nxt.type == _TEXT and nxt.text.isascii() and nxt.text.isalpha():
        what = nxt.text
    else:
        what = next((w for w in VAGUE_WORDS if glued.startswith(w)), "")
    if what:
        written = "".join(t.text for t in toks[k:j]) + what
        problems.add(f"“{written[:20]}”没有数字，请用数字重发此项")


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
