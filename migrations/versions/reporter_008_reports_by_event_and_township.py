"""reports indexed by (event_id, township_code), replacing the event_id index

Revision ID: reporter_008
Revises: reporter_007
Create Date: 2026-12-07 22:50:00

Every initial SMS report asks when its township first reported in the county's open event (the
late flag, `reporter.saving.first_report_stmt`). With only single-column indexes, a table whose
statistics are stale or missing (a fresh database, a burst faster than autovacuum) had that
planned on the exercise or hazard index and filtered every report of the day: 2,000 rows read
for 20 at 2,000 reports. The pair is chosen with or without statistics. Queries by event alone
use its leading column, so the event_id index goes.
"""
from alembic import op

revision = 'reporter_008'
down_revision = 'reporter_007'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_reports_event_township', 'reports', ['event_id', 'township_code'], unique=False)
    op.drop_index('ix_reports_event_id', table_name='reports')


def downgrade():
    op.create_index('ix_reports_event_id', 'reports', ['event_id'], unique=False)
    op.drop_index('ix_reports_event_township', table_name='reports')
