"""People: selfie searches, their matches, and video clips.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``face_searches`` keeps, per event, person and selfie (its SHA-256), the ``request_id`` of the
person's search and the event's ``photo_mark`` the search covered; it also tracks the person's
video clipping job. ``person_members`` lists the photos a search matched (never shrinks), and
``clips`` the clips downloaded. Existing ledgers gain empty tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.String(length=32)


def upgrade() -> None:
    op.create_table(
        "face_searches",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("selfie_sha256", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("covered_mark", sa.Integer(), nullable=True),
        sa.Column("searched_at", TIMESTAMP, nullable=True),
        sa.Column("clip_request_id", sa.String(length=64), nullable=True),
        sa.Column("clip_source", sa.String(length=64), nullable=True),
        sa.Column("clip_state", sa.String(length=16), nullable=True),
        sa.Column("clip_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name=op.f("fk_face_searches_event_id_events")
        ),
        sa.PrimaryKeyConstraint(
            "event_id", "person", "selfie_sha256", name=op.f("pk_face_searches")
        ),
    )
    op.create_table(
        "person_members",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("image_id", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id", "image_id"],
            ["photos.event_id", "photos.image_id"],
            name=op.f("fk_person_members_event_id_image_id_photos"),
        ),
        sa.PrimaryKeyConstraint("event_id", "person", "image_id", name=op.f("pk_person_members")),
    )
    op.create_index(
        op.f("ix_person_members_event_id_image_id"), "person_members", ["event_id", "image_id"]
    )
    op.create_table(
        "clips",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("relpath", sa.Text(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("downloaded_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name=op.f("fk_clips_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", "person", "name", name=op.f("pk_clips")),
    )


def downgrade() -> None:
    op.drop_table("clips")
    op.drop_index(op.f("ix_person_members_event_id_image_id"), table_name="person_members")
    op.drop_table("person_members")
    op.drop_table("face_searches")
