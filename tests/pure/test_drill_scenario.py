"""The plan is a pure function of (villages, scenario, seed)."""

from __future__ import annotations

from collections import Counter

import pytest

from drills.scenario import HOUR, SCENARIOS, Shelter, Village, build_plan


def villages(n: int, townships: int = 4) -> list[Village]:
    return [Village(f"1306811{t:02d}{i:03d}", f"村{t}-{i}", f"1306811{t:02d}000", "130681000000", i % 3 == 0)
            for t in range(1, townships + 1) for i in range(1, n // townships + 1)]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_same_seed_same_plan_and_order_does_not_matter(scenario):
    vs = villages(60)
    a = build_plan(vs, scenario, seed=7)
    b = build_plan(list(reversed(vs)), scenario, seed=7)
    assert a == b
    assert build_plan(vs, scenario, seed=8) != a


def test_adding_a_village_keeps_everybody_elses_behaviour():
    vs = villages(40)
    before = build_plan(vs, "flood", 3)
    after = build_plan(vs + [Village("130681199001", "新村", "130681199000", "130681000000")], "flood", 3)
    assert {k: v for k, v in after.behaviour.items() if k in before.behaviour} == before.behaviour
    old = [a for a in after.actions if a.ref != "130681199001" and a.actor != "shelter_manager"]
    assert old == [a for a in before.actions if a.actor != "shelter_manager"]


def test_behaviour_is_realistic_over_many_villages():
    vs = villages(2000, townships=40)
    plan = build_plan(vs, "flood", 1)
    mix = Counter(plan.behaviour.values())
    assert 0.6 < mix["prompt"] / len(vs) < 0.8
    assert mix["late"] and mix["reminded"] and mix["silent"]
    firsts = {}
    for a in plan.timed():
        firsts.setdefault(a.ref, a)
    prompt_first = [firsts[c].at for c, b in plan.behaviour.items() if b == "prompt"]
    assert all(t < HOUR for t in prompt_first)
    assert all(firsts[c].at > HOUR for c, b in plan.behaviour.items() if b == "late")
    assert not any(c in firsts for c, b in plan.behaviour.items() if b in ("silent", "reminded"))
    reminded = {a.ref for a in plan.actions if a.on_reminder}
    assert reminded <= {c for c, b in plan.behaviour.items() if b == "reminded"}
    kinds = Counter(a.kind for a in plan.actions)
    assert kinds["initial"] and kinds["update"] and kinds["nil"]
    assert all(a.body.startswith(("演练", "DRILL")) for a in plan.actions)
    slips = Counter(a.slip for a in plan.actions if a.slip)
    assert set(slips) == {"order", "fullwidth", "numerals", "typo"}
    delays = [r.delay for r in plan.responders]
    assert None in delays and any(d and d > 1800 for d in delays) and any(d and d < 1800 for d in delays)


def test_shelter_managers_fill_up():
    plan = build_plan(villages(8), "flood", 2, [Shelter("S1", 200, "+8613800000001")])
    updates = [a for a in plan.actions if a.actor == "shelter_manager"]
    assert updates and all(a.body.startswith("演练 避难 S1 ") for a in updates)
    assert [a.at for a in updates] == sorted(a.at for a in updates)


def test_unknown_scenario_is_refused():
    with pytest.raises(ValueError, match="scenario"):
        build_plan(villages(4), "volcano", 1)
