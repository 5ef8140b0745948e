"""the intake queue's own partial index; queue-like tables vacuumed and analysed sooner

Revision ID: reporter_007
Revises: 0003_merge
Create Date: 2026-12-07 12:20:00

Every SMS passes through outcome 'pending' and every outbox row through 'pending' and 'sending',
so their tables are queues: at PostgreSQL's default thresholds (20 % of the table changed) a
million-row table is vacuumed after 200,000 dead rows, and until then every lookup of the few live
pending rows walks the dead ones. The partial index holds pending messages only; the storage
parameters ask autovacuum to come after 2 % (PostgreSQL only; SQLite has neither).
"""
import sqlalchemy as sa
from alembic import op

revision = 'reporter_007'
down_revision = '0003_merge'
branch_labels = None
depends_on = None

QUEUES = ("inbound_messages", "outbound_sms", "escalations", "reports", "incidents")


def upgrade():
    op.create_index('ix_inbound_messages_pending', 'inbound_messages', ['id'], unique=False,
                    postgresql_where=sa.text("outcome = 'pending'"), sqlite_where=sa.text("outcome = 'pending'"))
    if op.get_bind().dialect.name == "postgresql":
        for table in QUEUES:
            op.execute(f"ALTER TABLE {table} SET (autovacuum_vacuum_scale_factor = 0.02, "
                       "autovacuum_analyze_scale_factor = 0.02)")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in QUEUES:
            op.execute(f"ALTER TABLE {table} RESET (autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor)")
    op.drop_index('ix_inbound_messages_pending', table_name='inbound_messages')
