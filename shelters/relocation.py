"""Relocation plan solver (pure: plain values in, plain values out; no database, no Flask).

Assign each village's relocated people to shelters with free places so that no shelter gets
more than its free places, as many people as possible are placed, and among those plans the
total person-distance (people × great-circle metres) is smallest. A min-cost flow:

    village (supply = people) ──cost = metres──▶ shelter ──cap = free──▶ sink
    village ──cost = M──▶ "unplaced" ──▶ sink            (M larger than any placement path)

M exceeds the cost of any augmenting path that places one more person, so the flow first
places everyone it can and then minimises distance; people on the "unplaced" edge are
reported per village. Distances are whole metres (network simplex wants integers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from core.geo import haversine_m


@dataclass(frozen=True)
class Demand:
    key: str  # e.g. the village code
    people: int
    lon: float
    lat: float


@dataclass(frozen=True)
class Supply:
    key: str  # e.g. the shelter code
    free: int
    lon: float
    lat: float


@dataclass(frozen=True)
class Assignment:
    demand: str
    shelter: str
    people: int
    distance_m: int


@dataclass
class Solution:
    assignments: list[Assignment] = field(default_factory=list)
    unplaced: dict[str, int] = field(default_factory=dict)  # demand key → people not placed

    @property
    def person_metres(self) -> int:
        return sum(a.people * a.distance_m for a in self.assignments)

    @property
    def placed(self) -> int:
        return sum(a.people for a in self.assignments)


def distance_m(d: Demand, s: Supply) -> int:
    return int(round(haversine_m(d.lon, d.lat, s.lon, s.lat)))


def solve(demands: list[Demand], supplies: list[Supply], max_distance_m: int | None = None) -> Solution:
    """The optimal plan (see the module docstring). `max_distance_m` forbids longer trips."""
    demands = [d for d in demands if d.people > 0]
    supplies = [s for s in supplies if s.free > 0]
    if len({d.key for d in demands}) != len(demands) or len({s.key for s in supplies}) != len(supplies):
        raise ValueError("demand and shelter keys must be unique")
    total = sum(d.people for d in demands)
    if total == 0:
        return Solution()
    graph = nx.DiGraph()
    graph.add_node("sink", demand=total)
    graph.add_node("unplaced", demand=0)
    costs: dict[tuple[int, int], int] = {}
    for i, d in enumerate(demands):
        for j, s in enumerate(supplies):
            metres = distance_m(d, s)
            if max_distance_m is None or metres <= max_distance_m:
                costs[i, j] = metres
    longest = max(costs.values(), default=0)
    big = (len(demands) + 1) * (longest + 1)
    for i, d in enumerate(demands):
        graph.add_node(("d", i), demand=-d.people)
        graph.add_edge(("d", i), "unplaced", weight=big)
    for j, s in enumerate(supplies):
        graph.add_node(("s", j), demand=0)
        graph.add_edge(("s", j), "sink", weight=0, capacity=s.free)
    for (i, j), metres in costs.items():
        graph.add_edge(("d", i), ("s", j), weight=metres)
    graph.add_edge("unplaced", "sink", weight=0)
    flow = nx.min_cost_flow(graph)
    solution = Solution()
    for i, d in enumerate(demands):
        out = flow[("d", i)]
        for j, s in enumerate(supplies):
            people = out.get(("s", j), 0)
            if people:
                solution.assignments.append(Assignment(d.key, s.key, people, costs[i, j]))
        if out.get("unplaced", 0):
            solution.unplaced[d.key] = out["unplaced"]
    solution.assignments.sort(key=lambda a: (a.demand, a.distance_m, a.shelter))
    return solution
