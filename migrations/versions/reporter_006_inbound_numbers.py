"""inbound numbers owned by divisions: strangers' SMS scoped by the number they texted

Revision ID: reporter_006
Revises: dispatch_002
Create Date: 2026-12-07 10:40:00

"""
import sqlalchemy as sa
from alembic import op

import core.models

revision = 'reporter_006'
down_revision = 'dispatch_002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'inbound_numbers',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('division_code', sa.String(length=12), nullable=False),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.Column('created_at', core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_inbound_numbers_created_by_id_people')),
        sa.ForeignKeyConstraint(['division_code'], ['divisions.code'],
                                name=op.f('fk_inbound_numbers_division_code_divisions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound_numbers')),
        sa.UniqueConstraint('number', name=op.f('uq_inbound_numbers_number')),
    )
    op.create_index(op.f('ix_inbound_numbers_division_code'), 'inbound_numbers', ['division_code'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_inbound_numbers_division_code'), table_name='inbound_numbers')
    op.drop_table('inbound_numbers')
