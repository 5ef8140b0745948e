"""An in-memory grid index over shelter positions, yielding shelters in great-circle order.

Pure (no database): built from plain (id, lon, lat, lineage codes) tuples. A search walks
square rings of grid cells outwards from the query cell, computes exact haversine distances
of the points it meets, and releases a point only once no unvisited cell can hold a closer
one (a rigorous lower bound per ring), so the order is exact, ties broken by id. Callers
filter the stream (status, free places) and stop after k hits: with 20,000 shelters a query
touches a few cells instead of every row.

Assumes no shelter near the antimeridian (China spans 73°E–136°E).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from typing import NamedTuple

from core.geo import EARTH_RADIUS_M, haversine_m

CELL_DEG = 0.05  # ≈ 5.5 km of latitude


class Point(NamedTuple):
    id: int
    lon: float
    lat: float
    lineage: tuple[str, ...]  # codes of the shelter's division and all its ancestors
    capacity: int = 0  # lets a search skip shelters too small for the group without a query


class GridIndex:
    def __init__(self, points: list[Point], cell_deg: float = CELL_DEG) -> None:
        self.cell = cell_deg
        self.cells: dict[tuple[int, int], list[Point]] = {}
        for p in points:
            self.cells.setdefault(self._key(p.lon, p.lat), []).append(p)
        self.size = len(points)
        if self.cells:
            xs = [k[0] for k in self.cells]
            ys = [k[1] for k in self.cells]
            self.bounds = (min(xs), min(ys), max(xs), max(ys))
            self.max_abs_lat = max(abs(p.lat) for p in points)

    def _key(self, lon: float, lat: float) -> tuple[int, int]:
        return math.floor(lon / self.cell), math.floor(lat / self.cell)

    def _ring(self, cx: int, cy: int, r: int) -> Iterator[list[Point]]:
        """Occupied cells at Chebyshev distance exactly r from (cx, cy)."""
        if 8 * r > len(self.cells):  # a big ring: look at the occupied cells instead
            for (x, y), pts in self.cells.items():
                if max(abs(x - cx), abs(y - cy)) == r:
                    yield pts
            return
        if r == 0:
            pts = self.cells.get((cx, cy))
            if pts:
                yield pts
            return
        for x in range(cx - r, cx + r + 1):
            for y in (cy - r, cy + r):
                pts = self.cells.get((x, y))
                if pts:
                    yield pts
        for y in range(cy - r + 1, cy + r):
            for x in (cx - r, cx + r):
                pts = self.cells.get((x, y))
                if pts:
                    yield pts

    def _lower_bound(self, lon: float, lat: float, r: int) -> float:
        """No point in a cell at ring distance ≥ r is closer than this (metres).

        Such a cell is at least (r-1) whole cells plus the query's distance to its own cell
        edge away in latitude or in longitude. Latitude: d ≥ R·Δφ. Longitude: haversine
        h ≥ cosφ1·cosφ2·sin²(Δλ/2) ≥ cos²φmax·sin²(Δλ/2), so d ≥ 2R·asin(cosφmax·sin(Δλ/2)).
        """
        if r <= 0:
            return 0.0
        cx, cy = self._key(lon, lat)
        edge_lon = min(lon - cx * self.cell, (cx + 1) * self.cell - lon)
        edge_lat = min(lat - cy * self.cell, (cy + 1) * self.cell - lat)
        dlon = (r - 1) * self.cell + max(0.0, edge_lon)
        dlat = (r - 1) * self.cell + max(0.0, edge_lat)
        by_lat = EARTH_RADIUS_M * math.radians(dlat)
        phi_max = math.radians(min(90.0, max(self.max_abs_lat, abs(lat))))
        half = min(math.pi / 2, math.radians(dlon) / 2)
        by_lon = 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.cos(phi_max) * math.sin(half)))
        return max(0.0, min(by_lat, by_lon) - 1e-6)

    def nearest(self, lon: float, lat: float, within: str | None = None,
                min_capacity: int = 0) -> Iterator[tuple[float, Point]]:
        """Yield (distance_m, point) in increasing distance (ties by id), optionally only
        points whose lineage contains the division code `within` and whose capacity is at
        least `min_capacity`."""
        if not self.cells:
            return
        cx, cy = self._key(lon, lat)
        x0, y0, x1, y1 = self.bounds
        # Rings before the first occupied cell are empty; beyond the farthest one there is nothing.
        r = max(0, x0 - cx, cx - x1, y0 - cy, cy - y1)
        r_max = max(abs(cx - x0), abs(cx - x1), abs(cy - y0), abs(cy - y1))
        heap: list[tuple[float, int, Point]] = []
        while r <= r_max:
            for pts in self._ring(cx, cy, r):
                for p in pts:
                    if p.capacity >= min_capacity and (within is None or within in p.lineage):
                        heapq.heappush(heap, (haversine_m(lon, lat, p.lon, p.lat), p.id, p))
            bound = self._lower_bound(lon, lat, r + 1)
            while heap and heap[0][0] <= bound:
                d, _id, p = heapq.heappop(heap)
                yield d, p
            r += 1
        while heap:
            d, _id, p = heapq.heappop(heap)
            yield d, p
