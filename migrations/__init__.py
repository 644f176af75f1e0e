"""Alembic migrations of the Glance schema (shipped as package data)."""
