"""The download concurrency of a run: how many downloads it ran at once, as last recorded.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

``runs.concurrency`` is written by the running sync at its ledger commits (the adaptive
target changes as it measures) and read by ``syncer status``. Older runs have none.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("concurrency", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("concurrency")
