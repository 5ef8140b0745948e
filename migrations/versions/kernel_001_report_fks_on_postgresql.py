"""report foreign keys that 0001 left out on PostgreSQL

`op.create_table` skips ForeignKeyConstraints marked use_alter=True (they exist to break the
reports <-> incidents/inbound_messages cycle) and expects them to be added by ALTER later; 0001
never did, so on PostgreSQL inbound_messages.report_id and incidents.latest_report_id had no
foreign key. SQLite renders them inline with the table, so there is nothing to do there.

Revision ID: kernel_001
Revises: 0001
Create Date: 2026-11-29 15:00:00
"""
from alembic import op

revision = "kernel_001"
down_revision = "0001"
branch_labels = None
depends_on = None

FKS = (("fk_inbound_messages_report_id_reports", "inbound_messages", "report_id"),
       ("fk_incidents_latest_report_id_reports", "incidents", "latest_report_id"))


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    for name, table, column in FKS:
        op.create_foreign_key(name, table, "reports", [column], ["id"])


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        return
    for name, table, _column in FKS:
        op.drop_constraint(name, table, type_="foreignkey")
