"""Shelter rules as pure functions (no database): capacity, status changes, staleness.

Kept apart so the web form, the SMS command, the API and the importer apply the same rules.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from enum import StrEnum


class ShelterStatus(StrEnum):
    STANDBY = "standby"   # ready, nobody in it yet
    OPEN = "open"
    FULL = "full"
    CLOSED = "closed"


M2_PER_PERSON = 1.5  # GB 21734: effective area per person
STALE_AFTER = timedelta(hours=6)
# An occupancy figure above capacity × this factor is refused as a probable typo.
IMPLAUSIBLE_FACTOR = 1.5
SEARCHABLE = (ShelterStatus.OPEN, ShelterStatus.STANDBY)


def default_capacity(effective_area_m2: float | None) -> int | None:
    """Persons a shelter holds when no capacity is given: effective area ÷ 1.5 m² (GB 21734)."""
    if effective_area_m2 is None:
        return None
    return int(math.floor(effective_area_m2 / M2_PER_PERSON + 1e-9))


def free_places(capacity: int, occupancy: int) -> int:
    return max(0, capacity - occupancy)


def status_after_occupancy(status: str, occupancy: int, capacity: int) -> str:
    """The status once occupancy changed: full at capacity, open again when there is room.

    A closed shelter stays closed (its manager reopens it explicitly); a standby shelter that
    receives people is open.
    """
    if status == ShelterStatus.CLOSED:
        return ShelterStatus.CLOSED
    if occupancy >= capacity:
        return ShelterStatus.FULL
    if status == ShelterStatus.FULL or (status == ShelterStatus.STANDBY and occupancy > 0):
        return ShelterStatus.OPEN
    return status


def status_after_command(requested: str, occupancy: int, capacity: int) -> str:
    """The status a manager's `开放` / `满` / `关闭` leads to: `open` at capacity stays `full`."""
    if requested == ShelterStatus.OPEN and occupancy >= capacity:
        return ShelterStatus.FULL
    return requested


def next_state(status: str, occupancy: int, capacity: int, new_occupancy: int | None = None,
               command: str | None = None) -> tuple[int, str]:
    """(occupancy, status) after a new figure and/or an explicit status: the figure first
    (full at capacity, open again with room), then the command (`开放` at capacity stays full)."""
    if new_occupancy is not None:
        occupancy = new_occupancy
        status = status_after_occupancy(status, occupancy, capacity)
    if command is not None:
        status = status_after_command(command, occupancy, capacity)
    return occupancy, status


def is_stale(status: str, occupancy_updated_at: datetime | None, updated_at: datetime | None,
             now: datetime) -> bool:
    """An open shelter whose occupancy figure is older than 6 hours (or was never given)."""
    if status != ShelterStatus.OPEN:
        return False
    reference = occupancy_updated_at or updated_at
    return reference is None or now - reference > STALE_AFTER


def occupancy_problem(value: int, capacity: int) -> str | None:
    """Why an occupancy figure is refused (Chinese, for the reply), or None when plausible."""
    if value < 0:
        return "入住人数不能为负数"
    if value > capacity * IMPLAUSIBLE_FACTOR:
        return f"入住人数{value}超过容量{capacity}的1.5倍，可能有误"
    return None
