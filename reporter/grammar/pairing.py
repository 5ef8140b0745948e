"""Pairing keywords with numbers, and turning each pair into a canonical indicator value.

Keywords and numbers that follow each other (fillers such as 约, 群众 in between are transparent;
other text breaks the chain) form paths; a small dynamic programme picks the matching with the
most pairs and, among those, the most where the number follows its keyword. Each chosen pair is
then checked and converted (亩 → hectares, 元 → 万元, integers for counts, the upper limit) or refused
with a problem. ``_Problems`` collects those messages for the whole parse.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from core.indicators import MAX_VALUE
from reporter.grammar.lexicon import _COUNT_KEYS, _FILL, _IND, _NUM, _TEXT
from reporter.grammar.lexicon_phrases import TOTAL_WORDS
from reporter.grammar.tokens import _Tok


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


def _next_non_filler(toks: list[_Tok], indices: list[int], p: int) -> int | None:
    """Position in ``indices`` of the first token after position p that is not a filler."""
    q = p + 1
    while q < len(indices) and toks[indices[q]].type == _FILL:
        q += 1
    return q if q < len(indices) else None


def _breakdown_head(toks: list[_Tok], indices: list[int], p: int) -> int | None:
    """Position of the keyword a breakdown ending before position p belongs to, or None.

    Walking back over labelled parts (老人12人 儿童8人, or 重伤3人 轻伤2人 of the same key) it
    needs a keyword followed by a label rather than a number (转移: 老人…) and at least one part
    number; any other token (a hazard, a kind, a refused number) means there is no breakdown."""
    part_keys: set[str] = set()
    saw_number = False
    for r in range(p - 1, -1, -1):
        tok = toks[indices[r]]
        if tok.type == _NUM:
            if tok.negative or tok.unreadable:
                return None
            saw_number = True
        elif tok.type == _IND:
            after = _next_non_filler(toks, indices, r)
            if after is not None and toks[indices[after]].type == _NUM:
                part_keys.add(tok.value)  # 重伤3人: a part, keep walking
                continue
            if saw_number and part_keys <= {tok.value} and tok.value in _COUNT_KEYS:
                return r
            return None
        elif tok.type not in (_TEXT, _FILL):
            return None
    return None


def _totals(toks: list[_Tok], indices: list[int]) -> list[tuple[int, int, int, int]]:
    """Totals over breakdowns (转移: 老人12人 儿童8人 共20人 → 转移20) as positions in ``indices``:
    (keyword, first part, total word, total number). The total beats the parts, which stay words."""
    found: list[tuple[int, int, int, int]] = []
    floor = 0
    for p, k in enumerate(indices):
        if p < floor or toks[k].type != _FILL or toks[k].text not in TOTAL_WORDS:
            continue
        q = _next_non_filler(toks, indices, p)
        if q is None or toks[indices[q]].type != _NUM or toks[indices[q]].unit_cat not in (None, "people", "house"):
            continue
        head = _breakdown_head(toks, indices[floor:], p - floor)
        if head is None or not _compatible(toks[indices[floor + head]].value, toks[indices[q]].unit_cat):
            continue
        found.append((floor + head, floor + head + 1, p, q))
        floor = q + 1
    return found


_Q4 = Decimal("0.0001")


def _indicator_value(key: str, num: _Tok, kw: _Tok, problems: _Problems) -> tuple[str, float | int] | None:
    """The canonical value for keyword+number, or None (with a problem) when it is refused."""
    written = f"{kw.text}{num.text}" if kw.start < num.start else f"{num.text}{kw.text}"
    if len(written) > 24:  # replies are short; a 70-digit figure need not be quoted in full
        written = written[:22] + "…"
    if num.unreadable:
        problems.add(f"“{written}”: 不是可用的数字，已忽略，请用普通数字重发")
        return None
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
