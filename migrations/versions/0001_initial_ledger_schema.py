"""Initial ledger schema: events, photos, BIB memberships, placements and runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Timestamps are UTC ISO 8601 text of fixed width (32 characters), so text order is time order.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.String(length=32)
PHOTO_STATES = "state IN ('pending', 'downloaded', 'failed', 'unavailable', 'removed')"


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("event_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("slug", sa.Text(), nullable=True),
        sa.Column("date", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=True),
        sa.Column("walk_no", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("walk_next_page", sa.Integer(), nullable=True),
        sa.Column("walk_started_at", TIMESTAMP, nullable=True),
        sa.Column("last_walk_completed_at", TIMESTAMP, nullable=True),
        sa.Column("walks_completed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.Column("event_ids", sa.Text(), nullable=False),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_ended_at"), "runs", ["ended_at"])
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.String(length=200), nullable=False),
        sa.Column(
            "state", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_at", TIMESTAMP, nullable=False),
        sa.Column("last_seen_walk", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("missing_walks", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("downloaded_at", TIMESTAMP, nullable=True),
        # false() is DEFAULT 0 on SQLite and DEFAULT false on PostgreSQL (which refuses 0)
        sa.Column("placements_dirty", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint(PHOTO_STATES, name=op.f("ck_photos_state")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name=op.f("fk_photos_event_id_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_photos")),
        sa.UniqueConstraint("event_id", "image_id", name=op.f("uq_photos_event_id_image_id")),
    )
    op.create_index("ix_photos_event_id_state_id", "photos", ["event_id", "state", "id"])
    op.create_index(
        "ix_photos_event_id_placements_dirty_id", "photos", ["event_id", "placements_dirty", "id"]
    )
    op.create_table(
        "bib_members",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("bib", sa.String(length=100), nullable=False),
        sa.Column("image_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id", "image_id"],
            ["photos.event_id", "photos.image_id"],
            name=op.f("fk_bib_members_event_id_image_id_photos"),
        ),
        sa.PrimaryKeyConstraint("event_id", "bib", "image_id", name=op.f("pk_bib_members")),
    )
    op.create_index("ix_bib_members_event_id_image_id", "bib_members", ["event_id", "image_id"])
    op.create_table(
        "placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("relpath", sa.Text(), nullable=False),
        sa.Column("bib", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["photo_id"], ["photos.id"], name=op.f("fk_placements_photo_id_photos")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_placements")),
        sa.UniqueConstraint("relpath", name=op.f("uq_placements_relpath")),
    )
    op.create_index(op.f("ix_placements_photo_id"), "placements", ["photo_id"])


def downgrade() -> None:
    op.drop_table("placements")
    op.drop_table("bib_members")
    op.drop_table("photos")
    op.drop_table("runs")
    op.drop_table("events")
