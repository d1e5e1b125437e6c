"""Durable storage: SQLAlchemy tables, repositories, the outbox and migrations."""
