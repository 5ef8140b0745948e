"""The simulated drill's plan: who sends what, when. A PURE function of (villages, scenario, seed).

No database, no clock, no network: `build_plan` takes plain values and returns plain values, so
the same seed always gives the same drill and the plan can be tested on its own. The runner
(`drills.simulator`) turns the plan into signed webhooks against a real server; the only parts
it decides at run time are those that depend on the server's answers (the escalation id a
responder acknowledges, whether a reminder arrived).

Behaviour mix (flood; the other scenarios shift the numbers):
  prompt ~70 %  first report within the hour (some of them nil reports: nothing happened here),
  late   ~13 %  first report after 1–2.5 h,
  reminded ~9 % silent until a reminder SMS reaches the officer, then report,
  silent ~8 %   never report.
Messages are sometimes mistyped or in the wrong word order; affected villages send follow-ups
as the water rises; township and county responders acknowledge after a delay, late (after the
30-minute deadline, so E4 fires) or never; shelter managers report rising occupancy; the
county office turns on daily reporting (零报告) a while in, so silent villages get reminded.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from core.roles import Role

HOUR = 3600.0
MINUTE = 60.0

# Per scenario: hazard keyword, duration, behaviour shares and the figures' scale.
SCENARIOS: dict[str, dict] = {
    "flood": {"hazard": "洪涝", "synonyms": ("洪涝", "洪水", "暴雨", "内涝"), "duration": 6 * HOUR, "daily": 2 * HOUR,
              "prompt": 0.70, "late": 0.13, "reminded": 0.09, "nil_share": 0.20, "followups": (0, 3),
              "casualty": 0.03, "affected": (20, 800), "relocated_share": (0.2, 0.9), "houses": "damaged"},
    "earthquake": {"hazard": "地震", "synonyms": ("地震",), "duration": 4 * HOUR, "daily": 1 * HOUR,
                   "prompt": 0.78, "late": 0.10, "reminded": 0.06, "nil_share": 0.30, "followups": (0, 2),
                   "casualty": 0.08, "affected": (10, 500), "relocated_share": (0.1, 0.6),
                   "houses": "collapsed"},
    "typhoon": {"hazard": "台风", "synonyms": ("台风",), "duration": 6 * HOUR, "daily": 2 * HOUR,
                "prompt": 0.72, "late": 0.12, "reminded": 0.08, "nil_share": 0.25, "followups": (0, 2),
                "casualty": 0.02, "affected": (20, 600), "relocated_share": (0.3, 1.0), "houses": "damaged"},
}
# Share of messages sent with a slip: the grammar should still read most of them; the one
# real typo ("洪捞") is meant to land in the review queue.
SLIP_SHARE = 0.12
CN_DIGITS = "零一二三四五六七八九"
FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@dataclass(frozen=True)
class Village:
    code: str
    name: str
    township_code: str
    county_code: str
    has_backup: bool = False


@dataclass(frozen=True)
class Shelter:
    code: str
    capacity: int
    manager_phone: str


@dataclass(frozen=True)
class Action:
    """One message to send. `at` is scenario seconds from the start; for `on_reminder` actions
    it is the delay after the reminder reaches the officer."""

    at: float
    actor: str          # officer_a | officer_b | shelter_manager
    ref: str            # village code, or shelter code for a manager
    body: str
    kind: str           # initial | update | nil | shelter
    slip: str = ""      # "" or what was done to the text: order, fullwidth, numerals, typo
    on_reminder: bool = False


@dataclass(frozen=True)
class Responder:
    """How the responders of one township or county acknowledge: after `delay` seconds, or
    never (None). Drawn once per division, applied to every escalation sent there."""

    division_code: str
    level: str
    delay: float | None


@dataclass(frozen=True)
class Plan:
    scenario: str
    seed: int
    duration: float
    actions: tuple[Action, ...]
    responders: tuple[Responder, ...]
    behaviour: dict[str, str] = field(default_factory=dict)  # village code → prompt|late|reminded|silent
    # when the county office turns on daily reporting (零报告) for the drill's events: from then
    # on silent villages are reminded (E5), which wakes the "reminded" ones
    daily_report_at: float | None = None

    def timed(self) -> list[Action]:
        return [a for a in self.actions if not a.on_reminder]

    def responder_delay(self, division_code: str) -> float | None:
        for r in self.responders:
            if r.division_code == division_code:
                return r.delay
        return None


def chinese_number(n: int) -> str:
    """Small whole numbers in Chinese numerals (the grammar reads them): 35 → 三十五."""
    if n < 10:
        return CN_DIGITS[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")
    return str(n)


def _prefix(rng: random.Random) -> str:
    return rng.choice(("演练 ", "演练 ", "演练 ", "演练", "DRILL "))


def _report_text(rng: random.Random, kind_word: str, hazard: str, figures: list[tuple[str, int]],
                 narrative: str, slip: str) -> str:
    """Compose one report message; `slip` changes how a hurried officer might write it."""
    parts = [f"{word}{value}" for word, value in figures]
    if slip == "order":  # number before keyword, hazard last, no kind
        parts = [f"{value}人{word}" if word in ("转移", "受灾", "死亡", "失踪", "受伤") else f"{word}{value}"
                 for word, value in figures]
        rng.shuffle(parts)
        return " ".join(parts + [hazard] + ([narrative] if narrative else []))
    if slip == "numerals":
        parts = [f"{word}{chinese_number(value)}" if value < 100 else f"{word}{value}" for word, value in figures]
    text = " ".join([w for w in (kind_word, hazard) if w] + parts + ([narrative] if narrative else []))
    if slip == "fullwidth":
        text = text.translate(FULL_WIDTH)
    if slip == "typo":
        text = text.replace(hazard, "洪捞" if hazard in ("洪涝", "洪水") else hazard[0] + "灾灾")
        text = text.replace(kind_word, "")
    return text.strip()


def _figures(rng: random.Random, spec: dict, affected: int, casualty: bool) -> list[tuple[str, int]]:
    lo, hi = spec["relocated_share"]
    relocated = int(affected * rng.uniform(lo, hi))
    figures = [("受灾", affected), ("转移", relocated)]
    if spec["houses"] == "collapsed":
        figures.append(("倒塌", rng.randint(1, max(2, affected // 20))))
    elif rng.random() < 0.5:
        figures.append(("损坏", rng.randint(1, max(2, affected // 15))))
    if casualty:
        figures.append(("失踪" if rng.random() < 0.5 else "死亡", rng.randint(1, 2)))
        figures.append(("受伤", rng.randint(0, 5)))
    return figures


def _village_actions(rng: random.Random, spec: dict, village: Village, behaviour: str) -> list[Action]:
    hazard_choices = spec["synonyms"]
    actions: list[Action] = []
    if behaviour == "silent":
        return actions
    if behaviour == "prompt":
        first_at = rng.uniform(3 * MINUTE, 58 * MINUTE)
    elif behaviour == "late":
        first_at = rng.uniform(62 * MINUTE, 150 * MINUTE)
    else:  # reminded: the delay after the reminder reaches the officer
        first_at = rng.uniform(4 * MINUTE, 25 * MINUTE)
    on_reminder = behaviour == "reminded"
    actor = Role.OFFICER_B if village.has_backup and rng.random() < 0.15 else Role.OFFICER_A
    if rng.random() < spec["nil_share"]:
        body = _prefix(rng) + rng.choice(("零报告", "平安", "无灾情", "零报告 " + spec["hazard"]))
        actions.append(Action(round(first_at, 1), actor, village.code, body, "nil", on_reminder=on_reminder))
        return actions
    hazard = rng.choice(hazard_choices)
    affected = rng.randint(*spec["affected"])
    casualty = rng.random() < spec["casualty"]
    slip = rng.choice(("order", "fullwidth", "numerals", "typo")) if rng.random() < SLIP_SHARE else ""
    kind_word = rng.choice(("初报", "初报", "首报", ""))
    figures = _figures(rng, spec, affected, casualty)
    narrative = rng.choice(("", "", "村东低洼处进水", "道路中断", "已组织群众转移"))
    body = _prefix(rng) + _report_text(rng, kind_word, hazard, figures, narrative, slip)
    actions.append(Action(round(first_at, 1), actor, village.code, body, "initial", slip, on_reminder))
    at = first_at
    for _ in range(rng.randint(*spec["followups"])):
        at += rng.uniform(35 * MINUTE, 110 * MINUTE)
        if not on_reminder and at > spec["duration"] - 5 * MINUTE:
            break
        affected = int(affected * rng.uniform(1.1, 1.8))  # the water rises
        figures = _figures(rng, spec, affected, False)
        body = _prefix(rng) + _report_text(rng, rng.choice(("续报", "续报", "XB")), hazard, figures, "", "")
        actions.append(Action(round(at, 1), Role.OFFICER_A, village.code, body, "update", on_reminder=on_reminder))
    return actions


def _behaviour(rng: random.Random, spec: dict) -> str:
    draw = rng.random()
    if draw < spec["prompt"]:
        return "prompt"
    if draw < spec["prompt"] + spec["late"]:
        return "late"
    if draw < spec["prompt"] + spec["late"] + spec["reminded"]:
        return "reminded"
    return "silent"


def _responder_delay(rng: random.Random) -> float | None:
    draw = rng.random()
    if draw < 0.75:
        return round(rng.uniform(2 * MINUTE, 25 * MINUTE), 1)
    if draw < 0.90:
        return round(rng.uniform(35 * MINUTE, 60 * MINUTE), 1)  # after the 30-minute deadline: E4
    return None  # never: E4 up to the county, and the county's own behaviour applies


def build_plan(villages: list[Village], scenario: str, seed: int,
               shelters: list[Shelter] | tuple[Shelter, ...] = ()) -> Plan:
    """The whole drill as a pure function of its inputs (order of `villages` does not matter)."""
    if scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {scenario!r}; expected one of {', '.join(SCENARIOS)}")
    spec = SCENARIOS[scenario]
    rng = random.Random(f"{scenario}:{seed}")
    ordered = sorted(villages, key=lambda v: v.code)
    actions: list[Action] = []
    behaviour: dict[str, str] = {}
    for village in ordered:
        # One generator per village, seeded from the drill's: adding a village elsewhere does
        # not reshuffle everybody else's behaviour.
        vrng = random.Random(f"{scenario}:{seed}:{village.code}")
        behaviour[village.code] = _behaviour(vrng, spec)
        actions.extend(_village_actions(vrng, spec, village, behaviour[village.code]))
    responders = []
    for code, level in sorted({(v.township_code, "township") for v in ordered}
                              | {(v.county_code, "county") for v in ordered}):
        responders.append(Responder(code, level, _responder_delay(random.Random(f"{scenario}:{seed}:{code}"))))
    for shelter in sorted(shelters, key=lambda s: s.code):
        at, occupancy = rng.uniform(30 * MINUTE, 90 * MINUTE), 0
        while at < spec["duration"] - 10 * MINUTE and occupancy < shelter.capacity:
            occupancy = min(shelter.capacity, occupancy + max(1, int(shelter.capacity * rng.uniform(0.1, 0.35))))
            word = "满" if occupancy >= shelter.capacity else f"入住{occupancy}"
            actions.append(Action(round(at, 1), "shelter_manager", shelter.code,
                                  f"演练 避难 {shelter.code} {word}", "shelter"))
            at += rng.uniform(40 * MINUTE, 100 * MINUTE)
    actions.sort(key=lambda a: (a.on_reminder, a.at, a.ref, a.body))
    return Plan(scenario, seed, spec["duration"], tuple(actions), tuple(responders), behaviour, spec["daily"])
