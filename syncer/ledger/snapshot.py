"""A private copy of a server ledger's rows, for a dry run (SQLite files are copied whole)."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select

from syncer.ledger.models import metadata

ROWS_PER_INSERT = 1000


def copy_rows(source: Connection, dest: Connection) -> int:
    """Copy every row of every ledger table from ``source`` into the empty ``dest`` (both at
    the newest schema), parents before children; return how many rows were copied."""
    copied = 0
    for table in metadata.sorted_tables:
        rows = source.execute(select(table)).mappings()
        while batch := rows.fetchmany(ROWS_PER_INSERT):
            dest.execute(insert(table), [dict(row) for row in batch])
            copied += len(batch)
    return copied
