"""the county's own initial report: when the county office marked it sent, and who

Revision ID: reporter_005
Revises: kernel_002
Create Date: 2026-12-06 23:02:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'reporter_005'
down_revision = 'kernel_002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('county_reported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('county_reported_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_events_county_reported_by_id_people'), 'people',
                                    ['county_reported_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_events_county_reported_by_id_people'), type_='foreignkey')
        batch_op.drop_column('county_reported_by_id')
        batch_op.drop_column('county_reported_at')
