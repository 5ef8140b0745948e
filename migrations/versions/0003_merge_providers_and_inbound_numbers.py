"""merge: SMS providers and templates (messaging_001) with inbound numbers (reporter_006)

Revision ID: 0003_merge
Revises: messaging_001, reporter_006
Create Date: 2026-12-07 00:12:00

"""

# revision identifiers, used by Alembic.
revision = '0003_merge'
down_revision = ('messaging_001', 'reporter_006')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
