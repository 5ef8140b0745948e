"""Pure modules, no database: the grid index against brute force, the relocation solver
against exhaustive search, and the status rules."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from core.geo import haversine_m
from core.models import utcnow
from shelters import rules
from shelters.relocation import Demand, Supply, distance_m, solve
from shelters.spatial import GridIndex, Point

lons = st.floats(min_value=113.0, max_value=120.0, allow_nan=False)
lats = st.floats(min_value=36.0, max_value=42.5, allow_nan=False)
# Clustered points too: many shelters in one cell and exact duplicates test the tie rule.
point_lists = st.lists(st.tuples(lons, lats, st.sampled_from(["A", "B"]), st.integers(0, 3)), min_size=0,
                       max_size=120)


@settings(max_examples=150, deadline=None)
@given(points=point_lists, qlon=lons, qlat=lats, k=st.integers(1, 15), within=st.sampled_from([None, "A", "B"]),
       cell=st.sampled_from([0.01, 0.05, 0.5]), need=st.integers(0, 3))
def test_grid_order_matches_brute_force(points, qlon, qlat, k, within, cell, need):
    index = GridIndex([Point(i, lon, lat, ("P", tag), cap) for i, (lon, lat, tag, cap) in enumerate(points)], cell)
    got = [(p.id, round(d, 6)) for d, p in itertools.islice(index.nearest(qlon, qlat, within, need), k)]
    brute = sorted((haversine_m(qlon, qlat, lon, lat), i) for i, (lon, lat, tag, cap) in enumerate(points)
                   if (within is None or tag == within) and cap >= need)[:k]
    assert got == [(i, round(d, 6)) for d, i in brute]


def test_grid_yields_everything_in_order_even_far_away():
    pts = [Point(1, 115.9, 39.4, ()), Point(2, 87.6, 43.8, ()), Point(3, 121.5, 31.2, ())]
    got = [p.id for _d, p in GridIndex(pts).nearest(116.0, 39.5)]
    assert got == [1, 3, 2]
    assert list(GridIndex([]).nearest(116.0, 39.5)) == []


def brute_force(demands: list[Demand], supplies: list[Supply]) -> tuple[int, int]:
    """(most people placed, least person-metres among those) by trying every integer split."""
    best: tuple[int, int] | None = None

    def splits(n: int, parts: int):
        if parts == 0:
            yield ()
            return
        for first in range(n + 1):
            for rest in splits(n - first, parts - 1):
                yield (first, *rest)

    per_demand = []
    for d in demands:  # each village sends 0..people to each shelter (the rest stay unplaced)
        options = []
        for placed in range(d.people + 1):
            options.extend(splits(placed, len(supplies)))
        per_demand.append(options)
    for combo in itertools.product(*per_demand):
        loads = [sum(c[j] for c in combo) for j in range(len(supplies))]
        if any(load > s.free for load, s in zip(loads, supplies, strict=True)):
            continue
        placed = sum(sum(c) for c in combo)
        cost = sum(c[j] * distance_m(d, supplies[j]) for d, c in zip(demands, combo, strict=True)
                   for j in range(len(supplies)))
        key = (-placed, cost)
        if best is None or key < best:
            best = key
    assert best is not None
    return -best[0], best[1]


small_demands = st.lists(st.tuples(st.integers(0, 3), lons, lats), min_size=1, max_size=3)
small_supplies = st.lists(st.tuples(st.integers(0, 3), lons, lats), min_size=1, max_size=3)


@settings(max_examples=120, deadline=None)
@given(ds=small_demands, ss=small_supplies)
def test_relocation_is_optimal_and_within_capacity(ds, ss):
    demands = [Demand(f"v{i}", n, lon, lat) for i, (n, lon, lat) in enumerate(ds)]
    supplies = [Supply(f"s{j}", n, lon, lat) for j, (n, lon, lat) in enumerate(ss)]
    solution = solve(demands, supplies)
    loads: dict[str, int] = {}
    for a in solution.assignments:
        loads[a.shelter] = loads.get(a.shelter, 0) + a.people
        assert a.people > 0
    free = {s.key: s.free for s in supplies}
    assert all(loads[k] <= free[k] for k in loads)  # never above capacity
    for d in demands:  # everybody is either placed or listed as unplaced
        placed = sum(a.people for a in solution.assignments if a.demand == d.key)
        assert placed + solution.unplaced.get(d.key, 0) == d.people
    placed, cost = brute_force(demands, supplies)
    assert solution.placed == placed
    assert solution.person_metres == cost


@settings(max_examples=60, deadline=None)
@given(ds=st.lists(st.tuples(st.integers(0, 400), lons, lats), min_size=1, max_size=12),
       ss=st.lists(st.tuples(st.integers(0, 300), lons, lats), min_size=0, max_size=12))
def test_relocation_never_exceeds_capacity_and_places_all_it_can(ds, ss):
    demands = [Demand(f"v{i}", n, lon, lat) for i, (n, lon, lat) in enumerate(ds)]
    supplies = [Supply(f"s{j}", n, lon, lat) for j, (n, lon, lat) in enumerate(ss)]
    solution = solve(demands, supplies)
    for s in supplies:
        assert sum(a.people for a in solution.assignments if a.shelter == s.key) <= s.free
    assert solution.placed == min(sum(d.people for d in demands), sum(s.free for s in supplies))


@settings(max_examples=60, deadline=None)
@given(ds=st.lists(st.tuples(st.integers(0, 60), lons, lats), min_size=1, max_size=10),
       ss=st.lists(st.tuples(st.integers(0, 60), lons, lats), min_size=1, max_size=10))
def test_edge_pruning_keeps_the_optimum(ds, ss):
    demands = [Demand(f"v{i}", n, lon, lat) for i, (n, lon, lat) in enumerate(ds)]
    supplies = [Supply(f"s{j}", n, lon, lat) for j, (n, lon, lat) in enumerate(ss)]
    pruned, full = solve(demands, supplies), solve(demands, supplies, prune=False)
    assert (pruned.placed, pruned.person_metres) == (full.placed, full.person_metres)


def test_relocation_prefers_the_near_shelter_and_lists_the_unplaced():
    near, far = Supply("near", 50, 115.91, 39.41), Supply("far", 30, 116.3, 39.8)
    solution = solve([Demand("v", 100, 115.9, 39.4)], [near, far])
    assert {(a.shelter, a.people) for a in solution.assignments} == {("near", 50), ("far", 30)}
    assert solution.unplaced == {"v": 20}
    assert solve([], [near]).assignments == []


def test_status_rules():
    assert rules.default_capacity(4500) == 3000
    assert rules.default_capacity(1.4) == 0
    assert rules.status_after_occupancy("open", 100, 100) == "full"
    assert rules.status_after_occupancy("full", 99, 100) == "open"
    assert rules.status_after_occupancy("standby", 5, 100) == "open"
    assert rules.status_after_occupancy("closed", 500, 100) == "closed"
    assert rules.status_after_command("open", 100, 100) == "full"
    assert rules.next_state("open", 10, 100, new_occupancy=100) == (100, "full")
    assert rules.next_state("full", 100, 100, new_occupancy=40) == (40, "open")
    assert rules.next_state("open", 10, 100, new_occupancy=20, command="full") == (20, "full")  # manager says so
    assert rules.next_state("full", 100, 100, command="open") == (100, "full")
    assert rules.next_state("standby", 0, 100, new_occupancy=5, command="closed") == (5, "closed")
    now = utcnow()
    assert rules.is_stale("open", now - timedelta(hours=7), now, now)
    assert not rules.is_stale("open", now - timedelta(hours=5), now, now)
    assert not rules.is_stale("standby", now - timedelta(days=3), now, now)
    assert rules.occupancy_problem(151, 100) and rules.occupancy_problem(-1, 100)
    assert rules.occupancy_problem(150, 100) is None
