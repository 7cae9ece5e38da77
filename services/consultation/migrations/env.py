"""Alembic environment of the consultation service (the plumbing lives in shared.db.migrations)."""

from services.consultation.db import Base
from shared.db.migrations import run_alembic_env

run_alembic_env(Base.metadata)
