"""Fixtures every test folder may use: a throwaway PostgreSQL cluster (postgres_server.py)."""

from postgres_server import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]
