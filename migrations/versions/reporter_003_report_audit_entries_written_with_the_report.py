"""report audit entries written with the report (drop reports.audit_pending)

`core.audit.record` takes no lock any more, so a report's creation entry is written in the
webhook's own transaction and the reporter's deferral (reports.audit_pending plus a sweep) is
gone. Reports still waiting for their entry when this runs get one now, marked as written by the
migration, so no report is left unaudited.

Revision ID: reporter_003
Revises: intake_001
Create Date: 2026-11-29 17:30:00

"""
import json
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

import core.models

revision = 'reporter_003'
down_revision = 'intake_001'
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    reports = sa.table('reports', sa.column('id', sa.Integer), sa.column('kind', sa.String),
                       sa.column('hazard', sa.String), sa.column('village_code', sa.String),
                       sa.column('author_id', sa.Integer), sa.column('channel', sa.String),
                       sa.column('message_id', sa.Integer), sa.column('exercise_id', sa.Integer),
                       sa.column('received_at', sa.DateTime), sa.column('audit_pending', sa.Boolean))
    audit_log = sa.table('audit_log', sa.column('at', core.models.UTCDateTime()), sa.column('actor_id', sa.Integer),
                         sa.column('actor', sa.String), sa.column('action', sa.String),
                         sa.column('entity', sa.String), sa.column('entity_id', sa.String),
                         sa.column('after', sa.JSON), sa.column('exercise_id', sa.Integer))
    now = datetime.now(timezone.utc)
    pending = bind.execute(sa.select(reports).where(reports.c.audit_pending.is_(True)).order_by(reports.c.id)).all()
    for row in pending:
        after = {"kind": row.kind, "hazard": row.hazard, "village_code": row.village_code, "channel": row.channel,
                 "message_id": row.message_id, "received_at": str(row.received_at), "written_by": "reporter_003"}
        bind.execute(audit_log.insert().values(
            at=now, actor_id=row.author_id, actor="sms", action="report.nil" if row.kind == "nil" else "report.create",
            entity="report", entity_id=f"R{row.id}", after=json.loads(json.dumps(after)), exercise_id=row.exercise_id))
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reports_audit_pending'))
        batch_op.drop_column('audit_pending')


def downgrade():
    with op.batch_alter_table('reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('audit_pending', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.create_index(batch_op.f('ix_reports_audit_pending'), ['audit_pending'], unique=False)
