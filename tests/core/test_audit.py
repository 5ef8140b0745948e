"""The hash-chained audit log: `flask audit verify` finds edits, deletions and reordering."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from core import audit
from core.extensions import db
from core.models import AuditEntry


@pytest.fixture
def chain(tree, make_person):
    officer = make_person("county", tree.county, name="值班员")
    audit.record("report.accept", "report", 1, before={"status": "received"}, after={"status": "accepted"},
                 actor=officer)
    audit.record("report.return", "report", 2, before={"status": "received"},
                 after={"status": "returned", "note": "数字有误 <b>"}, actor="system")
    audit.record("shelter.update", "shelter", "S12", before={"occupancy": 10}, after={"occupancy": 230.5},
                 exercise_id=7)
    audit.record("person.create", "person", officer.id, after={"name": "值班员"})
    db.session.commit()
    audit.chain_pending()
    return list(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def verify(cli):
    result = cli("audit", "verify")
    return result.exit_code, result.output


def test_intact_chain_verifies(chain, cli):
    assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]
    assert chain[0].prev_hash == audit.GENESIS
    assert chain[0].actor.startswith("值班员 +86") and chain[0].actor_id is not None
    assert chain[1].actor == "system" and chain[2].exercise_id == 7
    assert verify(cli) == (0, "audit chain intact\n")


def test_empty_chain_verifies(cli):
    assert verify(cli)[0] == 0


def test_edited_after_value_is_detected(chain, cli):
    db.session.execute(text("UPDATE audit_log SET after = :v WHERE id = :id"),
                       {"v": '{"status": "accepted", "note": "改过"}', "id": chain[1].id})
    db.session.commit()
    code, output = verify(cli)
    assert code == 1
    assert f"entry {chain[1].id}: content does not match its hash (edited?)" in output
    assert "audit chain BROKEN" in output


def test_edited_actor_is_detected(chain, cli):
    db.session.execute(text("UPDATE audit_log SET actor = 'someone else' WHERE id = :id"), {"id": chain[0].id})
    db.session.commit()
    code, output = verify(cli)
    assert code == 1 and f"entry {chain[0].id}: content does not match" in output


def test_deleted_middle_row_is_detected(chain, cli):
    db.session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": chain[1].id})
    db.session.commit()
    code, output = verify(cli)
    assert code == 1
    assert f"entry {chain[2].id}: does not follow the previous entry (deleted or reordered?)" in output


def test_deleted_last_rows_are_not_detectable_by_the_chain_alone(chain, cli):
    """Truncating the tail leaves a valid shorter chain: documented limit of a bare hash chain
    (a published anchor closes it: see the next test)."""
    db.session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": chain[-1].id})
    db.session.commit()
    assert verify(cli)[0] == 0


def test_a_published_anchor_detects_the_cut_tail(chain, cli):
    """`flask audit anchor` prints what to publish; verify against it finds the deleted tail."""
    result = cli("audit", "anchor")
    assert result.exit_code == 0
    published = result.output.strip()
    assert published == f"{chain[-1].seq}:{chain[-1].hash}"
    assert cli("audit", "verify", "--anchor", published).exit_code == 0
    last_id, last_seq = chain[-1].id, chain[-1].seq
    db.session.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": last_id})
    db.session.commit()
    result = cli("audit", "verify", "--anchor", published)
    assert result.exit_code == 1
    assert f"anchor {last_seq}: entry missing" in result.output and "audit chain BROKEN" in result.output


def test_an_anchor_detects_a_rewritten_tail_and_refuses_nonsense(chain, cli):
    published = f"{chain[-1].seq}:{chain[-1].hash}"
    db.session.execute(text("UPDATE audit_log SET hash = :h WHERE id = :id"), {"h": "0" * 64, "id": chain[-1].id})
    db.session.commit()
    assert "hash differs from the published one" in cli("audit", "verify", "--anchor", published).output
    result = cli("audit", "verify", "--anchor", "latest")
    assert result.exit_code == 2 and "an anchor is 'seq:hash'" in result.output


def test_anchor_of_an_empty_chain_says_so(cli):
    result = cli("audit", "anchor")
    assert result.exit_code == 1 and "empty" in result.output


def test_swapped_hashes_are_detected(chain, cli):
    a, b = chain[1], chain[2]
    db.session.execute(text("UPDATE audit_log SET hash = 'x' WHERE id = :id"), {"id": a.id})
    db.session.execute(text("UPDATE audit_log SET hash = :h WHERE id = :id"), {"h": a.hash, "id": b.id})
    db.session.execute(text("UPDATE audit_log SET hash = :h WHERE id = :id"), {"h": b.hash, "id": a.id})
    db.session.commit()
    code, output = verify(cli)
    assert code == 1
    assert f"entry {a.id}: content does not match its hash" in output
    assert f"entry {b.id}: does not follow the previous entry" in output


def test_rewritten_entry_with_recomputed_hash_breaks_the_next_link(chain, cli):
    """A forger who recomputes one entry's hash still breaks the link to the entry after it."""
    victim = chain[1]
    forged_after = {"status": "accepted"}
    forged = audit._digest(victim.prev_hash, victim.at, victim.actor_id, victim.actor, victim.action,
                           victim.entity, victim.entity_id, victim.before, forged_after, victim.exercise_id)
    db.session.execute(text("UPDATE audit_log SET after = :v, hash = :h WHERE id = :id"),
                       {"v": '{"status": "accepted"}', "h": forged, "id": victim.id})
    db.session.commit()
    code, output = verify(cli)
    assert code == 1 and f"entry {chain[2].id}: does not follow" in output


def test_chain_verifies_whatever_the_database_session_time_zone(chain):
    """The hash covers the time in UTC: a server in Asia/Shanghai must not break the chain."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores naive UTC; the session time zone is a PostgreSQL setting")
    db.session.execute(text("SET LOCAL TIME ZONE 'Asia/Shanghai'"))
    db.session.expire_all()
    assert audit.verify() == []
    db.session.rollback()


def test_concurrent_writers_do_not_fork_the_chain(app, cli):
    """Web and worker append at the same time (make run: both on one SQLite file). Neither waits
    for the other's commit any more (the webhook's throughput depended on that); the chaining
    sweep links both, once committed, into one chain."""
    import threading

    errors: list[BaseException] = []

    def other_writer():
        try:
            with app.app_context():  # its own session and connection
                audit.record("escalation.timeout", "escalation", 17, after={"level": "county"}, actor="worker")
                db.session.commit()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    if db.engine.dialect.name == "postgresql":  # SQLite has one writer at a time whatever we do
        audit.record("report.accept", "report", 1, after={"status": "accepted"}, actor="web")  # open
        thread = threading.Thread(target=other_writer)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the second writer waited for the first one's commit"
        db.session.commit()
    else:
        audit.record("report.accept", "report", 1, after={"status": "accepted"}, actor="web")
        db.session.commit()
        other_writer()
    assert not errors, errors
    assert audit.unchained() == 2
    assert cli("audit", "verify").output == "audit chain intact\n"  # chains them first
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    # Both in one chain, in the order they reached the table (an entry is inserted with its
    # transaction's next flush, so on PostgreSQL the worker's, committed first, may come first).
    assert sorted(e.actor for e in entries) == ["web", "worker"]
    assert entries[0].prev_hash == audit.GENESIS and entries[1].prev_hash == entries[0].hash


def test_entry_of_an_open_transaction_is_chained_after_commit_and_not_reported(app, cli):
    """An entry whose transaction is still open is invisible to the sweep: chained by a later run,
    after entries committed meanwhile; never reported as tampering."""
    import threading

    def other_writer(actor):
        with app.app_context():
            audit.record("report.accept", "report", 9, after={"status": "accepted"}, actor=actor)
            db.session.commit()
            audit.chain_pending()

    other_writer("first")
    audit.record("shelter.update", "shelter", "S1", after={"occupancy": 3}, actor="slow")  # not committed yet
    if db.engine.dialect.name == "postgresql":
        thread = threading.Thread(target=other_writer, args=("second",))
        thread.start()
        thread.join(timeout=60)
        db.session.commit()
        assert cli("audit", "verify").exit_code == 0
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
        assert [e.actor for e in entries] == ["first", "second", "slow"]
    else:
        db.session.commit()
        assert cli("audit", "verify").exit_code == 0
    assert audit.unchained() == 0 and audit.verify() == []


def test_entry_taken_out_of_the_chain_is_detected(chain, cli):
    db.session.execute(text("UPDATE audit_log SET seq = NULL WHERE id = :id"), {"id": chain[1].id})
    db.session.commit()
    code, output = verify(cli)
    assert code == 1 and f"entry {chain[2].id}: does not follow" in output
    assert f"entry {chain[1].id}: was chained but has lost its chain position" in output


def test_the_worker_chains_committed_entries(start_worker):
    """A real `flask worker` runs the chaining sweep: committed entries get their place unasked."""
    from tests.conftest import wait_for

    audit.record("report.accept", "report", 1, after={"status": "accepted"}, actor="web")
    audit.record("shelter.update", "shelter", "S2", after={"occupancy": 5}, actor="web")
    db.session.commit()
    assert audit.unchained() == 2
    start_worker()
    wait_for(lambda: audit.unchained() == 0, timeout=30, message="the entries to be chained")
    assert audit.verify() == []
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.seq)).all()
    assert entries[0].prev_hash == audit.GENESIS and entries[1].prev_hash == entries[0].hash
