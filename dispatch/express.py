"""The express path (`reporter.express`) of a responder's `收到 E17`.

The acknowledgement is `flows.acknowledge`'s conditional UPDATE with every condition of the
general path's success in its WHERE: the alert is still open to acknowledgement, of the
message's drill or of none, this sender is among its recipients, and there is nobody else to
tell that it is taken (`flows._tell_the_others`: that is the general path's). Then the audit
entry and the message's outcome, in one statement. When the UPDATE matches nothing the general
path works out why and answers (not a recipient, acknowledged already, another drill's, …).
Race guard: the same as the general path's, the UPDATE's own conditions; a concurrent
acknowledgement makes this one match nothing.
"""

from __future__ import annotations

from functools import cache

from flask import Flask
from sqlalchemy import bindparam, exists, select, update

from core.exercises import exercise_clause
from core.models import AuditEntry, Division, Person, utcnow
from dispatch.flows import acknowledgement_entry, thanks_text
from dispatch.models import ACKABLE, Escalation, EscalationStatus, escalation_recipients
from reporter import express, grammar
from reporter.models import InboundMessage, Outcome


def init_app(app: Flask) -> None:
    express.register(app, "ack", acknowledge, hold_division=False, when=lambda command: command.target_id is not None)


@cache
def _ack_stmt(drill: bool):
    """2: acknowledge the alert, if it is this sender's alone to acknowledge; its village's name."""
    escalations, recipients = Escalation.__table__, escalation_recipients
    sender = bindparam("person_id")
    is_recipient = exists(select(recipients.c.person_id).where(recipients.c.escalation_id == escalations.c.id,
                                                              recipients.c.person_id == sender))
    others = exists(select(recipients.c.person_id).join(Person, Person.id == recipients.c.person_id)
                    .where(recipients.c.escalation_id == escalations.c.id, recipients.c.person_id != sender,
                           Person.active.is_(True)))
    village = select(Division.name).where(Division.code == escalations.c.village_code).correlate(escalations)
    return (update(escalations)
            .where(escalations.c.id == bindparam("escalation"), escalations.c.status.in_(ACKABLE),
                   escalations.c.acknowledged_at.is_(None),
                   exercise_clause(escalations.c.exercise_id, bindparam("exercise") if drill else None),
                   is_recipient, ~others)
            .values(status=EscalationStatus.ACKNOWLEDGED, acknowledged_at=bindparam("now"), acknowledged_by_id=sender,
                    ack_channel="sms")
            .returning(village.scalar_subquery()))


@cache
def _recorded_stmt():
    """3: the audit entry and the message's outcome."""
    return express.outcome_stmt(Outcome.ACK).add_cte(express.inserted(AuditEntry.__table__, "audited", with_id=False))


def acknowledge(_message: InboundMessage, command: grammar.Command, sender: express.Sender) -> express.Planned | None:
    """`flows.acknowledge_by_sms` for the common case, or None for the general path."""
    params = {"escalation": command.target_id, "person_id": sender.person.id, "exercise": sender.exercise_id,
              "now": utcnow()}
    acknowledged = express.run(_ack_stmt(sender.exercise_id is not None), params).first()
    if acknowledged is None:
        return None
    public_id = f"E{command.target_id}"
    reply = express.reply_text(thanks_text(public_id, acknowledged[0]), sender)
    entry = acknowledgement_entry(public_id, sender.person, "sms", sender.exercise_id)
    express.run(_recorded_stmt(), express.values(AuditEntry.__table__, entry) | express.outcome_params(sender, reply))
    return express.Planned(reply, sender.person.id, sender.exercise_id)
