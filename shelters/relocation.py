"""Relocation plan solver (pure: plain values in, plain values out; no database, no Flask).

Assign each village's relocated people to shelters with free places so that no shelter gets
more than its free places, as many people as possible are placed, and among those plans the
total person-distance (people × great-circle metres) is smallest. A min-cost flow:

    village (supply = people) ──cost = metres──▶ shelter ──cap = free──▶ sink
    village ──cost = M──▶ "unplaced" ──▶ sink            (M larger than any placement path)

M exceeds the cost of any augmenting path that places one more person, so the flow first
places everyone it can and then minimises distance; people on the "unplaced" edge are
reported per village. Distances are whole metres (network simplex wants integers).

Edges that no optimal plan needs are left out, which keeps a county-sized problem fast:
- when the free places cover everybody, a village only needs its nearest shelters up to a
  cumulative free count ≥ all the people (if it used a farther one, one of those would have
  room, and moving people there costs nothing more);
- when they do not, a shelter only needs its nearest villages up to a cumulative demand ≥ all
  the free places (if a farther village used it, one of those has unplaced people, and
  swapping costs nothing more and places as many).
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


def _useful_edges(demands: list[Demand], supplies: list[Supply], costs: dict[tuple[int, int], int]) -> set:
    """The (demand, supply) pairs some optimal plan may use (see the module docstring)."""
    total_people = sum(d.people for d in demands)
    total_free = sum(s.free for s in supplies)
    keep: set[tuple[int, int]] = set()
    by_demand: dict[int, list[tuple[int, int]]] = {}
    by_supply: dict[int, list[tuple[int, int]]] = {}
    for (i, j), cost in costs.items():
        by_demand.setdefault(i, []).append((cost, j))
        by_supply.setdefault(j, []).append((cost, i))
    if total_free >= total_people:
        for i, options in by_demand.items():
            cumulative = 0
            for _cost, j in sorted(options):
                if cumulative >= total_people:
                    break
                keep.add((i, j))
                cumulative += supplies[j].free
    else:
        for j, options in by_supply.items():
            cumulative = 0
            for _cost, i in sorted(options):
                if cumulative >= total_free:
                    break
                keep.add((i, j))
                cumulative += demands[i].people
    return keep


def solve(demands: list[Demand], supplies: list[Supply], max_distance_m: int | None = None,
          prune: bool = True) -> Solution:
    """The optimal plan (see the module docstring). `max_distance_m` forbids longer trips;
    `prune=False` keeps every edge (for testing the pruning)."""
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
    if prune:
        keep = _useful_edges(demands, supplies, costs)
        costs = {edge: cost for edge, cost in costs.items() if edge in keep}
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
