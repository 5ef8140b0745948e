"""Shelter workflows. INTERFACE placeholders (owned by shelters, issue 6)."""

from __future__ import annotations

from core.models import Person


def sms_query(person: Person, people: int | None, exercise_id: int | None) -> str:
    """`避难 [120人]`: reply with the 3 nearest open/standby shelters with free places."""
    return "暂无避难场所信息。"


def sms_update(person: Person, code: str, action: str, value: int | None,
               exercise_id: int | None) -> tuple[bool, str]:
    """`避难 S12 入住230|满|关闭|开放` from the manager or a responder above: (done, reply)."""
    return False, f"未找到避难场所 {code}。"
