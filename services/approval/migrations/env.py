"""Alembic environment of the approval service (the plumbing lives in shared.db.migrations)."""

from services.approval.db import Base
from shared.db.migrations import run_alembic_env

run_alembic_env(Base.metadata)
