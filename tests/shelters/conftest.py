"""Fixtures for the shelter tests: shelters written through the real service layer."""

from __future__ import annotations

import pytest

from core.extensions import db
from shelters import search, service
from shelters.models import Shelter


@pytest.fixture
def make_shelter():
    counter = iter(range(1, 100_000))

    def make(division, *, code: str | None = None, name: str | None = None, lon: float | None = None,
             lat: float | None = None, capacity: int = 100, occupancy: int = 0, status: str = "open",
             manager_phone: str | None = None, **fields) -> Shelter:
        n = next(counter)
        shelter = Shelter(code=code or f"S{n}", name=name or f"避难场所{n}", level=fields.pop("level", "township"),
                          shelter_class=fields.pop("shelter_class", "emergency"), type=fields.pop("type", "school"),
                          division_code=division.code, lon=division.lon if lon is None else lon,
                          lat=division.lat if lat is None else lat, capacity=capacity, occupancy=occupancy,
                          status=status, facilities=fields.pop("facilities", ["water"]),
                          manager_name=fields.pop("manager_name", "管理员"), manager_phone=manager_phone,
                          occupancy_updated_at=fields.pop("occupancy_updated_at", service.utcnow()), **fields)
        db.session.add(shelter)
        db.session.flush()
        search.bump_index()
        db.session.commit()
        return shelter
    return make
