"""outbound SMS remember their template, variables and provider; pushed parts of long SMS are held

Revision ID: messaging_001
Revises: reporter_005
Create Date: 2026-12-07 00:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'messaging_001'
down_revision = 'reporter_005'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no batch rebuild of a referenced table on SQLite).
    op.add_column('outbound_sms', sa.Column('template', sa.String(length=80), nullable=True))
    op.add_column('outbound_sms', sa.Column('params', sa.JSON(), nullable=True))
    op.add_column('outbound_sms', sa.Column('provider', sa.String(length=20), nullable=True))
    op.create_table(
        'inbound_parts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sid', sa.String(length=64), nullable=False),
        sa.Column('provider', sa.String(length=20), nullable=False),
        sa.Column('from_phone', sa.String(length=40), nullable=False),
        sa.Column('to_phone', sa.String(length=40), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('sent_at', sa.String(length=40), nullable=False),
        sa.Column('position', sa.Integer(), nullable=True),
        sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('joined_into', sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_parts')),
        sa.UniqueConstraint('sid', name=op.f('uq_inbound_parts_sid')),
    )
    op.create_index(op.f('ix_inbound_parts_from_phone'), 'inbound_parts', ['from_phone'])
    op.create_index(op.f('ix_inbound_parts_received_at'), 'inbound_parts', ['received_at'])
    op.create_index(op.f('ix_inbound_parts_joined_into'), 'inbound_parts', ['joined_into'])


def downgrade():
    op.drop_table('inbound_parts')
    op.drop_column('outbound_sms', 'provider')
    op.drop_column('outbound_sms', 'params')
    op.drop_column('outbound_sms', 'template')
