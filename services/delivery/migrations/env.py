"""Alembic environment of the delivery service (the plumbing lives in shared.db.migrations)."""

from services.delivery.db import Base
from shared.db.migrations import run_alembic_env

run_alembic_env(Base.metadata)
