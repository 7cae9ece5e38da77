"""Database access shared by the services: one async engine per service database."""

from shared.db.engine import Database, insert_if_absent, upsert

__all__ = ["Database", "insert_if_absent", "upsert"]
