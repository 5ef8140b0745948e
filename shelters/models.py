"""Shelter registry tables (owned by the shelters part)."""
