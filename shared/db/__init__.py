"""Database access shared by the services: one async engine per service database."""

from shared.db.engine import Database

__all__ = ["Database"]
