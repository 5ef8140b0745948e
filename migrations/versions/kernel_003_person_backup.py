"""people: a backup (替班人) told in a person's place while they are off duty

Revision ID: kernel_003
Revises: reporter_005
Create Date: 2026-12-07 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'kernel_003'
down_revision = 'reporter_005'
branch_labels = None
depends_on = None


# Plain ADD COLUMN, no table rebuild (as reporter_005): `people` is referenced from most tables, and
# a batch rebuild on SQLite with foreign keys on fails half-way on a database with data. SQLite
# takes the self-reference inline; PostgreSQL gets it as its own constraint.
def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute("ALTER TABLE people ADD COLUMN backup_id INTEGER "
                   "CONSTRAINT fk_people_backup_id_people REFERENCES people (id)")
    else:
        op.add_column('people', sa.Column('backup_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_people_backup_id_people', 'people', 'people', ['backup_id'], ['id'])


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint('fk_people_backup_id_people', 'people', type_='foreignkey')
    with op.batch_alter_table('people', schema=None) as batch_op:
        batch_op.drop_column('backup_id')
