"""A memo that lives as long as the current database transaction.

The intake processor files hundreds of reports in one transaction, most from a few townships:
each report's escalation looks up the same ancestors and the same people on duty. What a
transaction has read once it may reuse until it ends (READ COMMITTED would show it a change
committed meanwhile; a batch lasts about a second, and the next batch sees it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from core.extensions import db

T = TypeVar("T")
_KEY = "zb_txmemo"


def remembered(name: str, key: object, load: Callable[[], T]) -> T:
    """`load()` once per transaction for (name, key); later calls in it get the same value."""
    memo = db.session.info.setdefault(_KEY, {})
    slot = (name, key)
    if slot not in memo:
        memo[slot] = load()
    return memo[slot]


def known(name: str, key: object) -> bool:
    """Has this transaction remembered (name, key)?"""
    return (name, key) in db.session.info.get(_KEY, {})


def remember(name: str, key: object, value: object) -> None:
    db.session.info.setdefault(_KEY, {})[(name, key)] = value


def forget() -> None:
    """Drop the memo now (a savepoint rolled back: what it held may be gone with it)."""
    db.session.info.pop(_KEY, None)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop(_KEY, None)
