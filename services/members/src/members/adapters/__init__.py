"""Adapters: PostgreSQL tables and repositories."""
