"""Roles (SPEC §2) and the groups of them that the rules ask about, in one place."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OFFICER_A = "officer_a"   # a village's disaster-information officer
    OFFICER_B = "officer_b"   # the village's backup officer
    TOWNSHIP = "township"     # responders and offices at that level
    COUNTY = "county"
    CITY = "city"
    PROVINCE = "province"
    ADMIN = "admin"


ROLES = tuple(Role)
# The division level each role must sit on (admin may sit anywhere, usually the province).
ROLE_LEVEL = {Role.OFFICER_A: "village", Role.OFFICER_B: "village", Role.TOWNSHIP: "township",
              Role.COUNTY: "county", Role.CITY: "city", Role.PROVINCE: "province"}
# Officers report for their village (SMS and the web form).
OFFICER_ROLES = frozenset({Role.OFFICER_A, Role.OFFICER_B})
# Staff log in to the board; as responders they review reports and close incidents in scope.
STAFF_ROLES = frozenset({Role.TOWNSHIP, Role.COUNTY, Role.CITY, Role.PROVINCE, Role.ADMIN})
# County offices and above: the first reporting unit (SPEC §0) decides events (daily reporting,
# ending them), handles the review queue and starts drills.
COUNTY_ROLES = frozenset({Role.COUNTY, Role.CITY, Role.PROVINCE, Role.ADMIN})
# Province-level staff see messages nobody could place in a division.
PROVINCE_ROLES = frozenset({Role.PROVINCE, Role.ADMIN})
