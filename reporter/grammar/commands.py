"""The SMS grammar's entry point: :func:`parse` and the reader for each command.

``parse`` tokenises a message, lets the first token choose the command (help, ack, correction,
shelter query/update, nil, or a report by default) and hands the rest to that command's reader,
which uses the shared body reader (kind, hazard, paired indicators) and builds the narrative from
whatever was left over. It also defines :class:`Command`, the one value a parse returns.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from core.indicators import MAX_VALUE
from reporter.grammar.body import _meaningful, _narrative, _read_body
from reporter.grammar.lexicon import _ACT, _CMD, _CODE, _HAZ, _NUM, _TEXT
from reporter.grammar.lexicon_phrases import ACK_LEADS
from reporter.grammar.numbers import normalise
from reporter.grammar.pairing import _Problems
from reporter.grammar.tokens import _Tok, _tokenise


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


def _small_id(digits: str, problems: _Problems) -> int | None:
    value = int(digits)
    if value > 2_147_483_647:
        problems.add(f"编号{digits}无效")
        return None
    return value


_RE_ID = re.compile(r"([A-Z])(\d{1,12})")
_Done = Callable[..., Command]


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

    lead = _courtesy_before_ack(text, toks, idx)
    if lead is not None:  # 已收到, 好的收到 E17
        idx = idx[lead:]
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


def _courtesy_before_ack(text: str, toks: list[_Tok], idx: list[int]) -> int | None:
    """Where 收到/确认 starts when only courteous words (已, 好的, 嗯, OK …) stand before it."""
    if toks[idx[0]].type == _CMD:
        return None
    for pos, k in enumerate(idx[1:4], start=1):
        if toks[k].type == _CMD and toks[k].value == "ack":
            lead = re.sub(r"[\W_]", "", text[toks[idx[0]].start:toks[k].start])
            return pos if lead.upper() in ACK_LEADS else None
    return None


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
    if body.refused:  # a figure it could not read: correct nothing rather than half of it
        return done("unparsed", idx, target_id=target)
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
    if body.nil_word and body.attempted == 0 and not body.nonzero:
        # 本村无灾情 / 今日平安 (无人员伤亡): only a nil word, and zero phrases, to go on; a nil report.
        nil_keep = [k for k in idx if not (toks[k].type == _HAZ and k in body.used)]
        return done("nil", nil_keep, hazard=body.hazard)
    # refused figures stay in the narrative, but do not make one: a message of nothing else is unparsed
    probe = _narrative(text, toks, [k for k in keep if k not in body.refused], _Problems())
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
