"""Synthetic villages and people, only where the real data has none, marked and reusable."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.models import Division, Person
from drills import roster, service
from drills.models import SyntheticRecord
from tests.conftest import _division


def test_synthetic_villages_only_under_empty_townships(tree):
    empty = _division("130681103000", tree.county, "空镇", "township", 116.0, 39.45)
    db.session.commit()
    assert roster.add_synthetic_villages(tree.county, 3) == 3
    made = db.session.scalars(select(Division).where(Division.parent_code == empty.code)
                              .order_by(Division.code)).all()
    assert [(d.code, d.name, d.township_code, d.county_code) for d in made] == [
        (f"130681103{900 + n:03d}", f"模拟{n}村", empty.code, tree.county.code) for n in (1, 2, 3)]
    assert all(d.lon is not None and abs(d.lon - 116.0) < 0.05 for d in made)
    assert service.synthetic_refs("division") == {d.code for d in made}
    assert roster.add_synthetic_villages(tree.county, 3) == 0  # the township has villages now
    assert len(service.area_villages(tree.county)) == 6


def test_people_are_found_or_made_and_deactivated_afterwards(tree, make_person):
    real = make_person("officer_a", tree.village)
    responder = make_person("township", tree.township)
    rows = service.area_villages(tree.county)
    book = roster.prepare_people(rows)
    assert book.officers[tree.village.code]["officer_a"] == real.phone
    assert book.responders[tree.township.code] == [responder.phone]
    made = db.session.scalars(select(Person).where(Person.phone.like("+86199%")).order_by(Person.phone)).all()
    # 李庄村, 东河村, 东城坊镇 and 涿州市 had nobody
    assert {(p.role, p.division_code) for p in made} == {
        ("officer_a", tree.village2.code), ("officer_a", tree.village3.code),
        ("township", tree.township2.code), ("county", tree.county.code)}
    assert all(p.name.startswith("模拟") and p.active for p in made)
    assert roster.deactivate_synthetic_people() == 4
    db.session.expire_all()
    assert not any(p.active for p in made) and real.active and responder.active
    again = roster.prepare_people(rows)  # reused, not duplicated
    assert db.session.scalar(select(SyntheticRecord.id).order_by(SyntheticRecord.id.desc())) == 4
    assert again.officers[tree.village2.code]["officer_a"] == book.officers[tree.village2.code]["officer_a"]
    db.session.expire_all()
    assert all(p.active for p in made)
