"""unknown senders attributed to a division (inbound_messages.division_code)

A message from a phone that belongs to no active person used to be shown to every county office
in the province. It now carries the division it could be placed in (reporter.attribution) and is
scoped by it; NULL means nobody could tell, and only province-level staff see it. Divisions get an
index on name for the village-name look-up.

Messages still waiting for review when this runs are attributed the way that needs no text
matching: a phone that belonged to a person now inactive gets that person's division. The others
stay NULL (province staff see them and can act on them).

Revision ID: reporter_004
Revises: reporter_003
Create Date: 2026-11-29 17:12:59.755323

"""
import sqlalchemy as sa
from alembic import op

revision = 'reporter_004'
down_revision = 'reporter_003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('divisions', schema=None) as batch_op:
        batch_op.create_index('ix_reporter_divisions_name', ['name'], unique=False)

    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('division_code', sa.String(length=12), nullable=True))
        batch_op.create_index(batch_op.f('ix_inbound_messages_division_code'), ['division_code'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_inbound_messages_division_code_divisions'), 'divisions',
                                    ['division_code'], ['code'])

    messages = sa.table('inbound_messages', sa.column('person_id', sa.Integer), sa.column('from_phone', sa.String),
                        sa.column('review_status', sa.String), sa.column('division_code', sa.String))
    people = sa.table('people', sa.column('id', sa.Integer), sa.column('phone', sa.String),
                      sa.column('division_code', sa.String), sa.column('active', sa.Boolean))
    former = (sa.select(people.c.division_code)
              .where(people.c.phone == messages.c.from_phone, people.c.active.is_(False))
              .order_by(people.c.id.desc()).limit(1).scalar_subquery())
    op.get_bind().execute(messages.update()
                          .where(messages.c.person_id.is_(None), messages.c.review_status == 'pending')
                          .values(division_code=former))


def downgrade():
    with op.batch_alter_table('inbound_messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_inbound_messages_division_code_divisions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_inbound_messages_division_code'))
        batch_op.drop_column('division_code')

    with op.batch_alter_table('divisions', schema=None) as batch_op:
        batch_op.drop_index('ix_reporter_divisions_name')
