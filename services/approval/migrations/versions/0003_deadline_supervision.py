"""deadline supervision: when each case is due a warning, and when it was warned / overdue

Revision ID: 0003
Revises: 0002
"""

import math
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.workdays import add_working_days

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("warning_on", sa.Date()))
    op.add_column("cases", sa.Column("warned_at", sa.DateTime(timezone=True)))
    op.add_column("cases", sa.Column("overdue_at", sa.DateTime(timezone=True)))
    # Cases already open get their warning day too (three quarters of their working days).
    connection = op.get_bind()
    open_cases = connection.execute(
        sa.text(
            "SELECT application_no, accepted_on, working_days FROM cases WHERE status = 'in_review'"
        )
    ).all()
    for application_no, accepted_on, working_days in open_cases:
        connection.execute(
            sa.text("UPDATE cases SET warning_on = :day WHERE application_no = :no"),
            {
                "day": add_working_days(accepted_on, math.ceil(0.75 * working_days)),
                "no": application_no,
            },
        )
    # The scheduler's two questions, answered from small partial indexes of open cases.
    op.create_index(
        "ix_cases_to_warn",
        "cases",
        ["warning_on"],
        postgresql_where=sa.text("status = 'in_review' AND warned_at IS NULL"),
    )
    op.create_index(
        "ix_cases_to_flag_overdue",
        "cases",
        ["deadline"],
        postgresql_where=sa.text("status = 'in_review' AND overdue_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_cases_to_flag_overdue", table_name="cases")
    op.drop_index("ix_cases_to_warn", table_name="cases")
    op.drop_column("cases", "overdue_at")
    op.drop_column("cases", "warned_at")
    op.drop_column("cases", "warning_on")
