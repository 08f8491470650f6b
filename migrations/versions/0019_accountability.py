"""accountability: responsibility findings, decision letters (考核决定书) and staff appeals

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 10:00:00

``accountability_findings`` keeps who is responsible for an incident, the loss and the
penalty proposed, and the authority its amount routes it to; ``accountability_letters`` each
letter as issued (its text in every language, never rewritten; a later version supersedes
it); ``accountability_appeals`` the appeals against letters and how they were decided.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from incident_cmd.columns import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accountability_findings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("incidents.id"), nullable=False),
        sa.Column("departments", sa.JSON(), nullable=False),
        sa.Column("people", sa.JSON(), nullable=False),
        sa.Column("facts", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("loss_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("penalty_text", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("major", sa.Boolean(), nullable=False),
        sa.Column("route", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("proposed_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("proposed_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    )
    op.create_index(
        "ix_accountability_findings_incident_id", "accountability_findings", ["incident_id"]
    )
    op.create_table(
        "accountability_letters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column(
            "finding_id",
            sa.Integer(),
            sa.ForeignKey("accountability_findings.id"),
            nullable=False,
        ),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("penalty_fen", sa.BigInteger(), nullable=False),
        sa.Column("penalty_text", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.Column("issued_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("appeal_until", sa.Date(), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.Column("superseded_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("number"),
        sa.UniqueConstraint("finding_id", "user_id", "version"),
    )
    op.create_index(
        "ix_accountability_letters_finding_id", "accountability_letters", ["finding_id"]
    )
    op.create_index("ix_accountability_letters_user_id", "accountability_letters", ["user_id"])
    op.create_table(
        "accountability_appeals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "letter_id", sa.Integer(), sa.ForeignKey("accountability_letters.id"), nullable=False
        ),
        sa.Column("appellant_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("decided_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column(
            "new_letter_id",
            sa.Integer(),
            sa.ForeignKey("accountability_letters.id"),
            nullable=True,
        ),
    )
    op.create_index("ix_accountability_appeals_letter_id", "accountability_appeals", ["letter_id"])


def downgrade() -> None:
    op.drop_table("accountability_appeals")
    op.drop_table("accountability_letters")
    op.drop_table("accountability_findings")
