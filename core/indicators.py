"""The national disaster indicators (SPEC §1): keys, Chinese names and units, in one place."""

from __future__ import annotations

from sqlalchemy import Float, Integer
from sqlalchemy.orm import Mapped, mapped_column

# key: (中文, unit, is_count)
INDICATORS: dict[str, tuple[str, str, bool]] = {
    "affected": ("受灾人口", "人", True),
    "deaths": ("因灾死亡人口", "人", True),
    "missing": ("因灾失踪人口", "人", True),
    "injured": ("因灾受伤人口", "人", True),
    "relocated": ("紧急转移安置人口", "人", True),
    "need_aid": ("需紧急生活救助人口", "人", True),
    "houses_collapsed": ("倒塌房屋", "间", True),
    "houses_severe": ("严重损坏房屋", "间", True),
    "houses_damaged": ("一般损坏房屋", "间", True),
    "crop_ha": ("农作物受灾面积", "公顷", False),
    "loss_10k_yuan": ("直接经济损失", "万元", False),
}
INDICATOR_KEYS = tuple(INDICATORS)
# Short labels used in SMS texts (死亡1 失踪0 …).
SHORT_LABELS = {"affected": "受灾", "deaths": "死亡", "missing": "失踪", "injured": "受伤",
                "relocated": "转移", "need_aid": "救助", "houses_collapsed": "倒塌",
                "houses_severe": "严损", "houses_damaged": "损坏", "crop_ha": "农作物",
                "loss_10k_yuan": "损失"}

HAZARDS: dict[str, str] = {
    "flood": "洪涝", "drought": "干旱", "typhoon": "台风", "wind_hail": "风雹", "cold": "低温冷冻",
    "snow": "雪灾", "sandstorm": "沙尘暴", "earthquake": "地震", "geological": "地质灾害",
    "marine": "海洋灾害", "fire": "森林草原火灾", "biological": "生物灾害", "other": "其他",
}
REPORT_KINDS = {"initial": "初报", "update": "续报", "final": "核报", "nil": "零报告"}
# Largest figure we store; anything above is refused with a clear answer, not an overflow.
MAX_VALUE = 100_000_000


class IndicatorColumns:
    """One nullable column per indicator: absent stays NULL (not zero), sums stay in SQL."""

    affected: Mapped[int | None] = mapped_column(Integer)
    deaths: Mapped[int | None] = mapped_column(Integer)
    missing: Mapped[int | None] = mapped_column(Integer)
    injured: Mapped[int | None] = mapped_column(Integer)
    relocated: Mapped[int | None] = mapped_column(Integer)
    need_aid: Mapped[int | None] = mapped_column(Integer)
    houses_collapsed: Mapped[int | None] = mapped_column(Integer)
    houses_severe: Mapped[int | None] = mapped_column(Integer)
    houses_damaged: Mapped[int | None] = mapped_column(Integer)
    crop_ha: Mapped[float | None] = mapped_column(Float)
    loss_10k_yuan: Mapped[float | None] = mapped_column(Float)

    @property
    def indicators(self) -> dict[str, float | int]:
        """The indicators that are present, as {key: number}."""
        return {k: getattr(self, k) for k in INDICATOR_KEYS if getattr(self, k) is not None}

    def set_indicators(self, values: dict[str, float | int]) -> None:
        for key, value in values.items():
            if key not in INDICATORS:
                raise KeyError(key)
            setattr(self, key, int(round(value)) if INDICATORS[key][2] else float(value))


def format_figures(values: dict[str, float | int], keys: tuple[str, ...] | None = None) -> str:
    """`死亡0 失踪1 转移120` for SMS texts."""
    parts = []
    for key in keys or INDICATOR_KEYS:
        if key in values and values[key] is not None:
            v = values[key]
            v = int(v) if float(v).is_integer() else round(float(v), 2)
            parts.append(f"{SHORT_LABELS[key]}{v}")
    return " ".join(parts)
