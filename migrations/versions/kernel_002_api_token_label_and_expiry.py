"""API tokens: a label (who holds it) and an expiry

Revision ID: kernel_002
Revises: reporter_004
Create Date: 2026-12-06 22:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'kernel_002'
down_revision = 'reporter_004'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('label', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
        batch_op.drop_column('label')
