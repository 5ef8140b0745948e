"""The reporter's SMS texts as named templates (messaging.templates): every reply an officer can get.

The texts are still written where they were (intake, flows, service, shapes); this module names
each one and its variables, so that a mainland provider can send it as an approved template and
`flask sms templates` lists it. A reply composed of pieces is one template per outcome, the
variable pieces as variables. Keep each declaration identical to the text its module writes
(tests/messaging/test_templates.py sends every outcome and checks each was recognised).
"""

from __future__ import annotations

from messaging.templates import sms_template
from reporter.flows import NOT_OFFICER
from reporter.grammar import HELP_TEXT
from reporter.intake import NO_DRILL, TROUBLE, UNKNOWN_SENDER

# shapes.confirmation_text and intake.handle_report (SPEC §3.3)
REPORT = sms_template(
    "report_received",
    "已收到{kind}{report}({hazard} {village}): {figures}。有误请回复: 更正 {report} 死亡1",
    "an officer's report stored")
REPORT_CLOSED = sms_template(
    "report_received_closed",
    "已收到{kind}{report}({hazard} {village}): {figures}。事件已结案。有误请回复: 更正 {report} 死亡1",
    "a final report (核报) closed the village's incident")
REPORT_FLAGGED = sms_template(
    "report_received_flagged",
    "已收到{kind}{report}({hazard} {village}): {figures}。{flags}，请核实；有误请回复: 更正 {report} 死亡1",
    "a report stored with flags to check")
REPORT_NOTE = sms_template(
    "report_received_note",
    "已收到{kind}{report}({summary}有误请回复: 更正 {report} 死亡1注意: {problems}",
    "a report stored, with words the grammar had to ignore")
# shapes.nil_received_text and shapes.nil_repeat_text
NIL = sms_template("nil_received", "已收到{village}今日零报告{report}，谢谢。", "a nil report")
NIL_AGAIN = sms_template(
    "nil_repeated",
    "{village}今日零报告已收到({report})，无需重复发送。",
    "a second nil report today")
NIL_OPEN = sms_template(
    "nil_with_open_incident",
    "已收到{village}今日零报告{report}，但本村仍有未结束的灾情。如灾情已结束请发送: 核报；如有"
        "新情况请发送: 续报 及数字。",
    "a nil report from a village whose incident is still open")
# flows.correct_report
CORRECTED = sms_template("report_corrected", "已更正{report}: {figures}。", "a correction applied")
NO_SUCH_REPORT = sms_template(
    "correction_unknown_report",
    "未找到报告R{number}，请核对编号。",
    "a correction of an unknown report")
NO_REPORT_ID = sms_template(
    "correction_without_id",
    "请写明报告编号，例如: 更正 R12 死亡1",
    "a correction without a report id")
NOT_YOURS = sms_template("correction_not_allowed", "您不能更正{report}：只有报送人或上级可以更正。",
                         "a correction of someone else's report")
NIL_CORRECTION = sms_template(
    "correction_of_nil",
    "{report}是零报告，请直接发送新的报告。",
    "a correction of a nil report")
NOTHING_TO_CORRECT = sms_template("correction_empty", "请写明更正后的数字，例如: 更正 {report} 死亡1",
                                  "a correction without figures")
# service.validate / resolve (ReportRefused)
UNKNOWN_FIGURE = sms_template("refused_unknown_figure", "未知指标 {key}。", "a report with an unknown figure")
UNREADABLE = sms_template("refused_unreadable_figure", "{label}的数字看不懂。", "a figure that is not a number")
NEGATIVE = sms_template("refused_negative_figure", "{label}不能是负数({value})。", "a negative figure")
TOO_LARGE = sms_template(
    "refused_huge_figure",
    "{label}数字过大({value})，请核实后重报。",
    "an implausibly large figure")
NO_FIGURES = sms_template(
    "refused_no_figures",
    "请写明灾情数字，例如: 初报 洪涝 死亡0 失踪0 转移30",
    "a report without figures")
UNKNOWN_HAZARD = sms_template("refused_unknown_hazard", "未知灾种 {hazard}。", "a report with an unknown hazard")
NO_HAZARD = sms_template("refused_no_hazard", "请写明灾种，例如: 初报 洪涝 死亡0 转移30", "a report without a hazard")
WHICH_HAZARD = sms_template("refused_which_hazard", "请写明灾种({which})，例如: 续报 洪涝 转移30",
                            "a follow-up while several hazards are open")
# intake
UNKNOWN = sms_template("unknown_sender", UNKNOWN_SENDER, "a phone that is no active person's")
DRILL_OVER = sms_template("no_running_drill", NO_DRILL, "a 演练 message while no drill runs")
KEPT = sms_template("kept_for_review", TROUBLE, "a message the service could not handle, kept for a person")
NOT_AN_OFFICER = sms_template("not_an_officer", NOT_OFFICER, "a report from someone who is not an officer")
HELP = sms_template("help", HELP_TEXT, "帮助 / ?")
UNPARSED = sms_template("unparsed", "未能识别。" + HELP_TEXT, "a message nobody could read")
UNPARSED_PROBLEMS = sms_template("unparsed_problems", "未能识别: {problems}。" + HELP_TEXT,
                                 "a message with parts the grammar could not read")
SPOOLED = sms_template("stored_later", "已收到，稍后处理。", "the database was down: the message waits in the spool")
