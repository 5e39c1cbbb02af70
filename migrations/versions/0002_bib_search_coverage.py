"""BIB search coverage: the event's photo mark, and what each BIB's last search covered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

``events.photo_mark`` grows whenever an event gains a photo row (or a removed photo is listed
again); ``bib_searches`` keeps, per event and BIB, the mark at which its last complete search
began. A BIB is searched again only when the mark has grown past it. ``events.bibs_digest``
and ``bibs_pass_mark`` remember the last BIB list searched completely, and at which mark, so
an unchanged list on an unchanged event is settled without reading its coverage. Existing
ledgers start at mark 0 with no coverage: their next sync searches every BIB once. Photos of
BIBs whose folder may be named differently now are placed again by that sync.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.String(length=32)


# BIBs whose folder name is surely the BIB itself, before and after this revision; the photos
# of any other BIB are placed again by the next sync, into the folder the BIB has now (its
# sanitised name plus a suffix where the sanitiser changes it, see syncer.layout.bib_dirname).
_PLAIN_BIB = re.compile(r"[0-9A-Za-z_-]+")
_OWN_FOLDERS = ("_no_bib", "_trash")


def upgrade() -> None:
    _add_coverage()
    _replace_odd_bib_folders()


def _add_coverage() -> None:
    op.add_column(
        "events",
        sa.Column("photo_mark", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("events", sa.Column("bibs_digest", sa.String(length=64), nullable=True))
    op.add_column("events", sa.Column("bibs_pass_mark", sa.Integer(), nullable=True))
    op.create_table(
        "bib_searches",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("bib", sa.String(length=100), nullable=False),
        sa.Column("covered_mark", sa.Integer(), nullable=False),
        sa.Column("searched_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.event_id"], name=op.f("fk_bib_searches_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", "bib", name=op.f("pk_bib_searches")),
    )


def _replace_odd_bib_folders() -> None:
    connection = op.get_bind()
    pairs = connection.execute(sa.text("SELECT DISTINCT event_id, bib FROM bib_members")).all()
    for event_id, bib in pairs:
        if _PLAIN_BIB.fullmatch(bib) and bib.casefold() not in _OWN_FOLDERS:
            continue
        connection.execute(
            sa.text(
                "UPDATE photos SET placements_dirty = :dirty WHERE event_id = :event "
                "AND state = 'downloaded' AND image_id IN "
                "(SELECT image_id FROM bib_members WHERE event_id = :event AND bib = :bib)"
            ).bindparams(sa.bindparam("dirty", type_=sa.Boolean())),  # 1 on SQLite, true elsewhere
            {"event": event_id, "bib": bib, "dirty": True},
        )


def downgrade() -> None:
    op.drop_table("bib_searches")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("bibs_pass_mark")
        batch.drop_column("bibs_digest")
        batch.drop_column("photo_mark")
