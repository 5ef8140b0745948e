"""Scope (SPEC §2): own division and everything below it, nothing else — in Python and in SQL."""

from __future__ import annotations

from sqlalchemy import select

from core.extensions import db
from core.models import Division, Person
from core.scope import can_access, is_above, scope_clause


def visible(person: Person) -> set[str]:
    return set(db.session.scalars(select(Division.code).where(scope_clause(person, Division.code))))


def test_township_sees_its_villages_not_the_neighbour(tree, make_person):
    person = make_person("township", tree.township)
    for d in (tree.township, tree.village, tree.village2):
        assert can_access(person, d) and can_access(person, d.code)
    for d in (tree.township2, tree.village3, tree.county, tree.city, tree.province, tree.other_village):
        assert not can_access(person, d) and not can_access(person, d.code)
    assert visible(person) == {tree.township.code, tree.village.code, tree.village2.code}
    assert is_above(person, tree.village) and not is_above(person, tree.township)


def test_county_sees_all_its_townships_and_villages_not_another_county(tree, make_person):
    person = make_person("county", tree.county)
    mine = {tree.county, tree.township, tree.township2, tree.village, tree.village2, tree.village3}
    for d in mine:
        assert can_access(person, d)
    for d in (tree.other_county, tree.other_village, tree.city, tree.province):
        assert not can_access(person, d)
    assert visible(person) == {d.code for d in mine}


def test_officer_sees_only_the_own_village(tree, make_person):
    officer = make_person("officer_a", tree.village)
    assert can_access(officer, tree.village)
    assert not can_access(officer, tree.village2) and not can_access(officer, tree.township)
    assert visible(officer) == {tree.village.code}


def test_city_and_province_admin(tree, make_person):
    city = make_person("city", tree.city)
    assert visible(city) == set(db.session.scalars(select(Division.code))) - {tree.province.code}
    admin = make_person("admin", tree.province)
    assert all(can_access(admin, d) for d in db.session.scalars(select(Division)))


def test_scope_clause_filters_people_in_a_real_query(tree, make_person):
    township = make_person("township", tree.township)
    inside = [make_person("officer_a", tree.village), make_person("officer_b", tree.village2)]
    outside = [make_person("officer_a", tree.village3), make_person("township", tree.township2),
               make_person("officer_a", tree.other_village)]
    found = set(db.session.scalars(select(Person.id).where(scope_clause(township, Person.division_code))))
    assert found == {township.id} | {p.id for p in inside}
    assert not found & {p.id for p in outside}


def test_nobody_inactive_or_unknown(tree, make_person):
    gone = make_person("county", tree.county, active=False)
    assert not can_access(gone, tree.village)
    assert not can_access(None, tree.village)
    assert not can_access(make_person("county", tree.county), "130681999999")
    assert not can_access(make_person("county", tree.county), None)
