"""The escalation policy (SPEC §5) as a table: plain values in, plans out, no database.

`decide(...)` answers "which escalations does this report open?" from the report's kind, the
incident's figures now and before, and whether the incident is new. Thresholds and deadlines
come from a `Policy` built from the app config (`Policy.from_config(app.config)`), so a
deployment changes them without touching code, and tests exercise them without a database.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

# The responder levels, bottom up: E4 goes one step up this ladder.
LADDER = ("township", "county", "city", "province")


@dataclass(frozen=True)
class Policy:
    """Per-deployment thresholds and deadlines (app config keys in brackets)."""

    ack_minutes: float = 30.0                 # ESCALATION_ACK_MINUTES
    e3_deaths_missing: int = 10               # E3_DEATHS_MISSING
    e3_relocated: int = 10_000                # E3_RELOCATED
    e3_houses_collapsed: int = 1_000          # E3_HOUSES_COLLAPSED
    e2_deaths_missing: int = 1                # E2_DEATHS_MISSING
    repeats: int = 1                          # ESCALATION_REPEATS

    @classmethod
    def from_config(cls, config: Mapping) -> Policy:
        return cls(
            ack_minutes=float(config.get("ESCALATION_ACK_MINUTES", cls.ack_minutes)),
            e3_deaths_missing=int(config.get("E3_DEATHS_MISSING", cls.e3_deaths_missing)),
            e3_relocated=int(config.get("E3_RELOCATED", cls.e3_relocated)),
            e3_houses_collapsed=int(config.get("E3_HOUSES_COLLAPSED", cls.e3_houses_collapsed)),
            e2_deaths_missing=int(config.get("E2_DEATHS_MISSING", cls.e2_deaths_missing)),
            repeats=max(0, int(config.get("ESCALATION_REPEATS", cls.repeats))),
        )


@dataclass(frozen=True)
class Plan:
    """One rule that fired: open one escalation per level, all at once, each with `deadline_minutes`."""

    rule: str
    levels: tuple[str, ...]
    deadline_minutes: float | None
    reason: str = ""


@dataclass(frozen=True)
class Situation:
    """What the rules look at, as plain values."""

    kind: str                                   # initial | update | final | nil
    now: Mapping[str, float | int | None]       # incident figures after this report
    before: Mapping[str, float | int | None] | None = None   # figures before (None: new incident)
    is_new: bool = False
    extra: dict = field(default_factory=dict)


def _n(values: Mapping | None, key: str) -> float:
    if not values:
        return 0
    value = values.get(key)
    return float(value) if value is not None else 0


def casualties(values: Mapping | None) -> float:
    return _n(values, "deaths") + _n(values, "missing")


def _e1(s: Situation, p: Policy) -> bool:
    return s.is_new and s.kind != "nil"


def _e2(s: Situation, p: Policy) -> bool:
    now = casualties(s.now)
    if now < p.e2_deaths_missing:
        return False
    if s.is_new or s.before is None:
        return True
    return now > casualties(s.before)


def _crossed(s: Situation, key: Callable[[Mapping | None], float], threshold: float) -> bool:
    """At or above the threshold now and not before: E3 fires once per incident, not per report."""
    return key(s.now) >= threshold and (s.before is None or key(s.before) < threshold)


def _e3(s: Situation, p: Policy) -> bool:
    return (_crossed(s, casualties, p.e3_deaths_missing)
            or _crossed(s, lambda v: _n(v, "relocated"), p.e3_relocated)
            or _crossed(s, lambda v: _n(v, "houses_collapsed"), p.e3_houses_collapsed))


# The table: rule, condition, levels notified at once, and human reason.
TABLE: tuple[tuple[str, Callable[[Situation, Policy], bool], tuple[str, ...], str], ...] = (
    ("E1", _e1, ("township",), "new incident"),
    ("E2", _e2, ("township", "county"), "casualties"),
    ("E3", _e3, ("county", "city", "province"), "skip-level (越级上报)"),
)


def decide(situation: Situation, policy: Policy | None = None) -> list[Plan]:
    """Every rule of the table that fires for this report, in table order (E1, E2, E3)."""
    policy = policy or Policy()
    if situation.kind == "nil":
        return []
    return [Plan(rule, levels, policy.ack_minutes, reason)
            for rule, when, levels, reason in TABLE if when(situation, policy)]


def next_level(level: str) -> str | None:
    """E4: the level above (township → county → city → province), None at the top."""
    if level not in LADDER:
        return LADDER[0] if level == "village" else None
    i = LADDER.index(level)
    return LADDER[i + 1] if i + 1 < len(LADDER) else None


def repeat_due(window_minutes: float, repeats: int, sent: int) -> float | None:
    """Minutes after an escalation opened when its next repeat is due (None: no repeat left).

    An unacknowledged notice is repeated `repeats` times before it climbs (as GoAlert and Iris
    do: a missed SMS is more often unseen than ignored). The repeats are spread evenly inside
    the acknowledgement window, so the climb itself keeps SPEC §5's deadline (30 minutes): with
    one repeat, the notice is sent again after 15 minutes and climbs after 30.
    """
    if repeats <= 0 or sent >= repeats or window_minutes <= 0:
        return None
    return window_minutes * (sent + 1) / (repeats + 1)


def merge_levels(plans: list[Plan]) -> list[tuple[str, str, float | None]]:
    """(level, rule, deadline) per level, each level once, the most serious rule winning.

    E1 and E2 both notify the township about a new incident with a casualty: the township gets
    one escalation (E2, the more serious) rather than two texts about the same report.
    """
    chosen: dict[str, tuple[str, float | None]] = {}
    for plan in plans:
        for level in plan.levels:
            current = chosen.get(level)
            if current is None or plan.rule > current[0]:
                chosen[level] = (plan.rule, plan.deadline_minutes)
    return [(level, rule, deadline) for level in LADDER if level in chosen
            for rule, deadline in [chosen[level]]]
