"""Translatable labels for the national keys (core.indicators holds the Chinese originals).

Written out literally so `pybabel extract` finds them; the Chinese text is the msgid, so the
Chinese interface shows exactly the national names.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

# The national keys' labels are the kernel's (the officers' form uses them too).
from core.labels import HAZARD_LABELS, INDICATOR_LABELS, KIND_LABELS, UNIT_LABELS  # noqa: F401

SORT_LABELS = {"recent": _l("最近报告"), "severity": _l("伤亡"), "relocated": _l("转移人数"),
               "affected": _l("受灾人数"), "village": _l("村名"), "township": _l("乡镇"), "opened": _l("开始时间")}
ESCALATION_STATUS = {"open": _l("待确认"), "acknowledged": _l("已确认"), "escalated": _l("已上报上级"),
                     "overdue": _l("超时无人确认"), "closed": _l("已关闭")}
RULE_LABELS = {"E1": _l("新灾情"), "E2": _l("有伤亡"), "E3": _l("越级上报"), "E4": _l("超时未确认"),
               "E5": _l("未报告"), "E6": _l("报告退回")}
OUTCOME_LABELS = {"unparsed": _l("无法识别"), "unknown_sender": _l("未登记号码"), "rejected": _l("已拒收"),
                  "pending": _l("处理中")}
FLAG_LABELS = {"decrease": _l("数字减少"), "implausible": _l("数字可疑"), "late": _l("迟报"),
               "open_incident": _l("零报告但灾情未结")}
SMS_STATUS = {"pending": _l("待发送"), "queued": _l("已交运营商"), "sending": _l("发送中"), "sent": _l("已发送"),
              "delivered": _l("已送达"), "undelivered": _l("未送达"), "failed": _l("发送失败")}
CHANNEL_LABELS = {"sms": _l("短信"), "web": _l("网页"), "api": _l("接口"), "board": _l("看板")}
SEVERITY_LABELS = {0: _l("无数字"), 1: _l("轻"), 2: _l("较重"), 3: _l("有伤亡"), 4: _l("特别严重（越级上报）")}


class Resolved:
    """The label tables translated once for this request (templates loop over hundreds of rows)."""

    def __init__(self) -> None:
        for name in ("INDICATOR_LABELS", "UNIT_LABELS", "HAZARD_LABELS", "KIND_LABELS", "SORT_LABELS",
                     "ESCALATION_STATUS", "SEVERITY_LABELS", "RULE_LABELS", "OUTCOME_LABELS", "SMS_STATUS",
                     "CHANNEL_LABELS"):
            setattr(self, name, {k: str(v) for k, v in globals()[name].items()})
