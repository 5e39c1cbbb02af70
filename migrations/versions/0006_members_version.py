"""The version of an event's memberships (BIB and people), raised whenever they change.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

A photo downloaded while a BIB pass or a face search changed the event's memberships (on a
ledger shared by nodes, another node's) was placed by what was known when it was taken.
Recording it compares the version it was taken at with ``events.members_version``: if they
differ, its placements are checked again (``photos.placements_dirty``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "events",
        sa.Column("members_version", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_column("members_version")
