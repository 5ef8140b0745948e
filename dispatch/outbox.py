"""The transactional outbox: SMS rows written in the caller's transaction, relayed after commit.

INTERFACE (owned by dispatch, issue 4). Other parts call only `queue_sms`.
"""

from __future__ import annotations

from core.extensions import db
from core.models import Person
from dispatch.models import OutboundSms


def queue_sms(to_phone: str, body: str, *, purpose: str, person: Person | None = None,
              report_id: int | None = None, escalation_id: int | None = None,
              exercise_id: int | None = None) -> OutboundSms:
    """Add an SMS to the outbox in the current transaction; it is sent after commit.

    During an exercise the body is prefixed with 【演练】 (SPEC §7).
    """
    if exercise_id is not None and not body.startswith("【演练】"):
        body = "【演练】" + body
    sms = OutboundSms(to_phone=to_phone, body=body, purpose=purpose,
                      person_id=person.id if person else None, report_id=report_id,
                      escalation_id=escalation_id, exercise_id=exercise_id)
    db.session.add(sms)
    return sms
