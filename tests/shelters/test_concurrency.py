"""Two managers' messages for one shelter at the same moment: both recorded, none lost, one
drill overlay row (insert-if-absent), real and drill figures kept apart."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from core.exercises import Exercise
from core.extensions import db
from core.models import Person
from shelters.models import OccupancyRecord, ShelterDrillState
from shelters.sms import sms_update


def test_simultaneous_updates_are_all_recorded(app, tree, make_person, make_shelter):
    managers = [make_person("officer_a", tree.village), make_person("officer_a", tree.village2)]
    shelter = make_shelter(tree.township, code="S12", capacity=500, manager_phone=managers[0].phone)
    exercise = Exercise(name="演练", division_code=tree.county.code, scenario="flood")
    db.session.add(exercise)
    db.session.commit()
    county = make_person("county", tree.county)
    ids = [managers[0].id, county.id]
    barrier = threading.Barrier(4)
    results: list = []
    errors: list = []

    def send(person_id: int, value: int, exercise_id: int | None) -> None:
        with app.app_context():
            try:
                person = db.session.get(Person, person_id)
                barrier.wait(timeout=20)
                results.append(sms_update(person, "S12", "occupancy", value, exercise_id))
                db.session.commit()
            except Exception as exc:  # reported below: the test must see it
                errors.append(repr(exc))
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=send, args=(ids[i % 2], 100 + i, exercise.id if i < 2 else None))
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(results) == 4 and all(done for done, _reply in results)
    db.session.expire_all()
    history = list(db.session.scalars(select(OccupancyRecord).order_by(OccupancyRecord.id)))
    assert sorted(r.occupancy_after for r in history) == [100, 101, 102, 103]
    assert db.session.scalar(select(func.count(ShelterDrillState.id))) == 1
    db.session.refresh(shelter)
    assert shelter.occupancy in (102, 103)  # the real row only ever saw the real messages
    drill = [r for r in history if r.exercise_id == exercise.id]
    real = [r for r in history if r.exercise_id is None]
    # one after the other: the second message's "before" is the first one's "after"
    assert {drill[1].occupancy_before, real[1].occupancy_before} == {drill[0].occupancy_after, real[0].occupancy_after}
