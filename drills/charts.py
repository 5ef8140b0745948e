"""The evaluation report's charts: matplotlib (Agg, no display) → base64 PNG for <img src="data:…">.

Chinese labels need a CJK font; Noto CJK is looked for where Debian's fonts-noto-cjk puts it
and by name. Without one the charts still render (labels fall back to English) rather than
failing the report. On an English page the labels are English too.
"""

from __future__ import annotations

import base64
import io
from functools import lru_cache
from pathlib import Path

import matplotlib
from flask import has_request_context
from flask_babel import get_locale

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

FONT_DIRS = ("/usr/share/fonts/opentype/noto", "/usr/share/fonts/truetype/noto", "/usr/share/fonts/noto-cjk")
FONT_FILES = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSerifCJK-Regular.ttc")


@lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed CJK font, registered with matplotlib, or None."""
    for directory in FONT_DIRS:
        for name in FONT_FILES:
            path = Path(directory) / name
            if path.exists():
                try:
                    font_manager.fontManager.addfont(str(path))
                    return font_manager.FontProperties(fname=str(path)).get_name()
                except (OSError, RuntimeError, ValueError):
                    continue
    for font in font_manager.fontManager.ttflist:
        if "CJK" in font.name or font.name in ("WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei"):
            return font.name
    return None


def _label(zh: str, en: str) -> str:
    """The viewer's language (English on an English page, or with no CJK font to draw Chinese)."""
    return zh if cjk_font() and not _english_page() else en


def _english_page() -> bool:
    if not has_request_context():
        return False  # the CLI's HTML/PDF report is Chinese, like the officers' SMS
    locale = get_locale()
    return locale is not None and locale.language == "en"


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 7.0, height: float = 3.2):
    family = cjk_font()
    if family:
        plt.rcParams["font.family"] = [family, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt.subplots(figsize=(width, height))


def arrival_curve(points: list[tuple[float, float]]) -> str:
    fig, ax = _figure()
    xs = [p[0] for p in points]
    ys = [p[1] * 100 for p in points]
    ax.plot(xs, ys, color="#12355b", linewidth=2)
    ax.fill_between(xs, ys, color="#12355b", alpha=0.12)
    for minute, label in ((60, "1 h"), (120, "2 h")):
        ax.axvline(minute, color="#b3261e", linestyle="--", linewidth=1)
        ax.text(minute, 3, label, color="#b3261e", ha="left")
    ax.set_ylim(0, 100)
    ax.set_xlim(0, max(xs) if xs else 1)
    ax.set_xlabel(_label("演练开始后（分钟）", "minutes since start"))
    ax.set_ylabel(_label("已报告村（%）", "villages reported (%)"))
    ax.set_title(_label("报告到达曲线", "Report arrival"))
    ax.grid(alpha=0.3)
    return _png(fig)


def ack_times(delays_by_level: dict[str, list[float]]) -> str:
    fig, ax = _figure()
    levels = [lv for lv, values in delays_by_level.items() if values]
    names = {"township": _label("乡镇", "township"), "county": _label("县", "county"),
             "city": _label("市", "city"), "province": _label("省", "province")}
    if levels:
        ax.boxplot([[d / 60 for d in delays_by_level[lv]] for lv in levels], orientation="horizontal",
                   tick_labels=[names.get(lv, lv) for lv in levels])
        ax.axvline(30, color="#b3261e", linestyle="--", linewidth=1)
    else:
        ax.text(0.5, 0.5, _label("无确认记录", "no acknowledgements"), ha="center", va="center",
                transform=ax.transAxes)
    ax.set_xlabel(_label("确认用时（分钟，虚线为 30 分钟时限）", "minutes to acknowledge (deadline 30)"))
    ax.set_title(_label("各级确认用时", "Acknowledgement times per level"))
    ax.grid(alpha=0.3, axis="x")
    return _png(fig)


def township_compliance(townships: list[dict], limit: int = 40) -> str:
    shown = sorted(townships, key=lambda t: (t["share_1h"], t["share_2h"], t["code"]))[:limit]
    fig, ax = _figure(7.0, max(2.5, 0.28 * len(shown) + 1))
    names = [t["name"] if cjk_font() else t["code"] for t in shown]
    ys = range(len(shown))
    ax.barh(ys, [t["share_2h"] * 100 for t in shown], color="#9ec5ea", label=_label("2 小时内", "within 2 h"))
    ax.barh(ys, [t["share_1h"] * 100 for t in shown], color="#12355b", label=_label("1 小时内", "within 1 h"))
    ax.set_yticks(list(ys), names)
    ax.axvline(90, color="#b3261e", linestyle="--", linewidth=1)
    ax.set_xlim(0, 100)
    ax.set_xlabel(_label("按时报告的村（%）", "villages reporting on time (%)"))
    title = _label("乡镇报告率", "Township compliance")
    if len(townships) > limit:
        title += _label(f"（最低的 {limit} 个）", f" (lowest {limit})")
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # outside: never over a bar
    return _png(fig)
