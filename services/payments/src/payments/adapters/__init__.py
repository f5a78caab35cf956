"""Persistence: SQLAlchemy Core tables and repositories over one connection."""
