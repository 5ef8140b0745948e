"""Indexes the board's queries need on other parts' tables (declared here, created by the
board's migration, so that autogenerate elsewhere keeps them).

- "villages that reported today" is a range scan of one day's reports: (exercise_id,
  received_at, village_code) serves it from the index alone, real or drill.
- the live feed asks for acknowledgements since the last poll every 3 s per open board.
"""

from __future__ import annotations

from sqlalchemy import Index

from dispatch.models import Escalation
from reporter.models import Report

REPORTS_BY_DAY = Index("ix_board_reports_exercise_received_village", Report.exercise_id, Report.received_at,
                       Report.village_code)
ESCALATIONS_BY_ACK = Index("ix_board_escalations_acknowledged_at", Escalation.acknowledged_at)
