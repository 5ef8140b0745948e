"""Reading a report's body (SPEC §3.2): kind, hazard and keyword/number pairs, then the narrative
of whatever was left. Shared by reports, nil reports and corrections (`commands`). Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from reporter.grammar.lexicon import _CMD, _HAZ, _KIND
from reporter.grammar.pairing import _indicator_value, _pair_up, _Problems
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
