"""escalations: repeats sent and the next repeat's time (ESCALATION_REPEATS)

Revision ID: dispatch_002
Revises: kernel_003
Create Date: 2026-12-07 10:05:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'dispatch_002'
down_revision = 'kernel_003'
branch_labels = None
depends_on = None


def upgrade():  # plain ADD COLUMN: no rebuild of a referenced table on SQLite
    op.add_column('escalations', sa.Column('repeats_sent', sa.Integer(), nullable=False, server_default='0'))
    op.add_column('escalations', sa.Column('repeat_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('ix_escalations_repeat_at', 'escalations', ['repeat_at'], unique=False)


def downgrade():
    op.drop_index('ix_escalations_repeat_at', table_name='escalations')
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_column('repeat_at')
        batch_op.drop_column('repeats_sent')
