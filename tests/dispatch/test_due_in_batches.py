"""Repeats and deadlines due from the database, many at a time: each is sent or climbs once,
with the same texts, parents and audit entries as one at a time, whoever runs the pass."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from core.extensions import db
from core.models import AuditEntry, utcnow
from dispatch import overdue, repeats
from dispatch.models import Escalation
from tests.dispatch.test_closing import _in_thread, _postgres_only
from tests.dispatch.test_escalations import sms_to


def _opened(tree, staff, report_in, count: int) -> list[tuple[int, int, int]]:
    """`count` new incidents alternating between two villages: (report id, relocated, E1 id)."""
    made = []
    for n in range(count):
        village = tree.village if n % 2 == 0 else tree.village2
        report, _incident, [esc] = report_in(village, staff.officer_a, relocated=n + 1)
        made.append((report.id, n + 1, esc.id))
    return made


def _past(column: str, ids: list[int]) -> None:
    for escalation_id in ids:
        setattr(db.session.get(Escalation, escalation_id), column, utcnow() - timedelta(seconds=1))
    db.session.commit()


def _e4s() -> list[Escalation]:
    return list(db.session.scalars(select(Escalation).where(Escalation.rule == "E4").order_by(Escalation.id)))


def test_a_pass_climbs_every_due_escalation_once_in_batches(tree, staff, report_in):
    made = _opened(tree, staff, report_in, 7)
    ids = [esc_id for _r, _n, esc_id in made]
    _past("deadline_at", ids[:6])  # the seventh is not due yet
    assert overdue.sweep_overdue(limit=4) == 6  # two transactions
    e4s = _e4s()
    assert sorted(e.parent_id for e in e4s) == ids[:6]
    assert {(e.level, e.status) for e in e4s} == {("county", "open")}
    assert all([p.id for p in e.recipients] == [staff.county.id] for e in e4s)
    statuses = {e.id: e.status for e in db.session.scalars(select(Escalation).where(Escalation.id.in_(ids)))}
    assert [statuses[i] for i in ids] == ["escalated"] * 6 + ["open"]
    village_of = {esc_id: ("王庄村" if k % 2 == 0 else tree.village2.name) for k, (_r, _n, esc_id) in enumerate(made)}
    expected = sorted(
        f'【灾情】{village_of[esc_id]}(码头镇) 洪涝 转移{relocated} R{report_id}，码头镇未按时确认E{esc_id}。'
        f'回复"收到 E{next(e.id for e in e4s if e.parent_id == esc_id)}"确认。'
        for report_id, relocated, esc_id in made[:6])
    assert sorted(sms_to(staff.county)) == expected
    audited = {(a.entity_id, tuple(a.after["escalated_to"])) for a in db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "escalation.overdue"))}
    assert audited == {(f"E{e.parent_id}", (e.public_id,)) for e in e4s}
    assert overdue.sweep_overdue() == 0 and len(_e4s()) == 6  # once only


def test_a_pass_sends_every_due_repeat_once_in_batches(tree, staff, report_in):
    made = _opened(tree, staff, report_in, 5)
    ids = [esc_id for _r, _n, esc_id in made]
    _past("repeat_at", ids)
    assert repeats.sweep_repeats(limit=2) == 5  # three transactions
    texts = [t for t in sms_to(staff.township) if "再次提醒" in t]
    assert sorted(texts) == sorted(f'【灾情·再次提醒】{"王庄村" if k % 2 == 0 else tree.village2.name}(码头镇) 洪涝 '
                                   f'转移{relocated} R{report_id}。回复"收到 E{esc_id}"确认。'
                                   for k, (report_id, relocated, esc_id) in enumerate(made))
    rows = db.session.scalars(select(Escalation).where(Escalation.id.in_(ids))).all()
    assert {(r.repeats_sent, r.repeat_at, r.status) for r in rows} == {(1, None, "open")}
    assert repeats.sweep_repeats() == 0 and len([t for t in sms_to(staff.township) if "再次提醒" in t]) == 5


def test_two_passes_at_once_climb_each_deadline_once(app, tree, staff, report_in):
    """Two workers' passes over one backlog (Redis down: no lease keeps them apart)."""
    _postgres_only()
    ids = [esc_id for _r, _n, esc_id in _opened(tree, staff, report_in, 24)]
    _past("deadline_at", ids)
    barrier = threading.Barrier(2)

    def sweep():
        barrier.wait(timeout=20)
        return overdue.sweep_overdue(limit=5)

    results, errors = [], []
    threads = [_in_thread(app, sweep, results, errors) for _ in range(2)]
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    db.session.expire_all()
    assert sum(results) == 24 and sorted(e.parent_id for e in _e4s()) == sorted(ids)
    assert len(sms_to(staff.county)) == 24
