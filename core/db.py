"""Small query helpers every part uses."""

from __future__ import annotations


def exercise_clause(column, exercise_id: int | None):
    """Real records (exercise NULL) unless an exercise is chosen: the one drill-isolation filter."""
    return column.is_(None) if exercise_id is None else column == exercise_id
