"""Alembic environment of the federation gateway (the plumbing lives in shared.db.migrations)."""

from services.federation.db import Base
from shared.db.migrations import run_alembic_env

run_alembic_env(Base.metadata)
