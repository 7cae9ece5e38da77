"""Alembic environment of the portal (the plumbing lives in shared.db.migrations)."""

from services.portal.db import Base
from shared.db.migrations import run_alembic_env

run_alembic_env(Base.metadata)
