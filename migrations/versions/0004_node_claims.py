"""Several nodes on one ledger: photo claims with a lease, and the nodes that took part.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

``photos.claimed_by`` names the node that took a photo to download and ``lease_until`` when
that claim lapses unless the node renews it; a photo whose lease has passed may be taken by
any node. ``nodes`` keeps one row per node name: when it was last seen working and how many
photos it had claimed and in flight then (what ``syncer status`` shows per node). Existing
ledgers start with no claims and no nodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.String(length=32)


def upgrade() -> None:
    op.add_column("photos", sa.Column("claimed_by", sa.String(length=100), nullable=True))
    op.add_column("photos", sa.Column("lease_until", TIMESTAMP, nullable=True))
    op.create_table(
        "nodes",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen", TIMESTAMP, nullable=False),
        sa.Column("claimed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("downloading", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_nodes")),
    )


def downgrade() -> None:
    op.drop_table("nodes")
    with op.batch_alter_table("photos") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
