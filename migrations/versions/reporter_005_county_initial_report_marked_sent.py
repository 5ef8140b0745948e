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


# Plain ADD COLUMN, no table rebuild: on SQLite (make run) a batch rebuild of `events` must drop
# the old table, which incidents, reports and escalations reference, and with foreign keys on that
# fails half-way on a database with data. SQLite takes the foreign key inline with ADD COLUMN
# (REFERENCES, the column being NULL); PostgreSQL gets it as its own constraint.
def upgrade():
    op.add_column('events', sa.Column('county_reported_at', sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == 'sqlite':  # (Alembic will not render the inline reference itself)
        op.execute("ALTER TABLE events ADD COLUMN county_reported_by_id INTEGER "
                   "CONSTRAINT fk_events_county_reported_by_id_people REFERENCES people (id)")
    else:
        op.add_column('events', sa.Column('county_reported_by_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_events_county_reported_by_id_people', 'events', 'people',
                              ['county_reported_by_id'], ['id'])


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_events_county_reported_by_id_people', 'events', type_='foreignkey')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_column('county_reported_by_id')
        batch_op.drop_column('county_reported_at')
