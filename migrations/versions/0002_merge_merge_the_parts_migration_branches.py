"""merge the parts' migration branches

Revision ID: 0002_merge
Revises: board_001, dispatch_001, drills_001, kernel_001, reporter_002, shelters_001
Create Date: 2026-11-29 16:12:17.960685

"""
from alembic import op
import sqlalchemy as sa

import core.models


# revision identifiers, used by Alembic.
revision = '0002_merge'
down_revision = ('board_001', 'dispatch_001', 'drills_001', 'kernel_001', 'reporter_002', 'shelters_001')
branch_labels = None
depends_on = None


def upgrade():
    pass


def downgrade():
    pass
