"""The catalog store: SQLAlchemy tables, alembic migrations, seeding from the shipped data."""

from .catalog import Catalog, SeedReport, open_catalog

__all__ = ["Catalog", "SeedReport", "open_catalog"]
