"""Intake's tables for bundle applications (一件事一次办): the bundle, and each child.

A child is an ordinary application (ApplicationRow, with `bundle_no`) once it is accepted. A
child that waits for a sibling's certificate is held: its number is reserved in the bundle's
receipt, what it was handed in with is kept here, and its application is written only when the
process manager (usecases/bundle_manager.py) releases it with the certificate cited."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.dml import Insert

from services.intake.db import ApplicationRow, Base, TimelineEntryRow, _insert_bound
from shared.messaging.outbox import insert_row


class ChildStatus:
    ACCEPTED = "accepted"  # written as an application at once
    HELD = "held"  # waits for a sibling's certificate; no application yet
    RELEASED = "released"  # the certificate came: written as an application with it cited


class BundleRow(Base):
    __tablename__ = "bundle_applications"

    bundle_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    bundle_id: Mapped[str] = mapped_column(String(32), index=True)
    catalog_version: Mapped[str] = mapped_column(String(32))
    # Personal data, encrypted like the applications' (bound to the column and bundle_no): the
    # applicant, the delivery, the agent, and the combined form's shared fields.
    applicant: Mapped[str] = mapped_column(Text)
    delivery: Mapped[str] = mapped_column(Text)
    agent: Mapped[str | None] = mapped_column(Text)
    shared_fields: Mapped[str] = mapped_column(Text)
    property_locality: Mapped[str | None] = mapped_column(String(6))
    receiving_locality: Mapped[str] = mapped_column(String(6), index=True)
    window_id: Mapped[str] = mapped_column(String(32))
    accepted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_by: Mapped[str] = mapped_column(String(64))
    # The latest child's promised date (a held child's estimated from its prerequisites').
    promised_date: Mapped[date] = mapped_column(Date)
    # domain.bundles: open, completed or failed, as the process manager last decided.
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Failed: the one rejection the applicant gets (usecases/bundle_compensation.py), each
    # member with its department's reason or what was undone. None until then.
    rejection: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BundleChildRow(Base):
    __tablename__ = "bundle_children"

    application_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    bundle_no: Mapped[str] = mapped_column(ForeignKey("bundle_applications.bundle_no"), index=True)
    item_code: Mapped[str] = mapped_column(String(32))
    required: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16))
    # Its decision once approval announced it (approved, rejected); None until then.
    outcome: Mapped[str | None] = mapped_column(String(16))
    # What it waits for: {prerequisite item_code: its material the certificate serves}.
    waits_for: Mapped[dict[str, str]] = mapped_column(JSON)
    # The certificates issued for it (approval's CertificateIssued), and those it was released
    # with: [{material_code, certificate_no, issuer_locality, item_code}].
    issued: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Held: the materials (with their scans' size and type) and commitments it was handed in
    # with, written into its application at release. Never personal data.
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    commitments: Mapped[list[str]] = mapped_column(JSON)
    deferred: Mapped[list[str]] = mapped_column(JSON)  # 容缺, as judged at the window
    competent_locality: Mapped[str] = mapped_column(String(6))
    department: Mapped[str] = mapped_column(String(128))
    promised_date: Mapped[date] = mapped_column(Date)
    # Its department's reason, when it rejected it.
    reason: Mapped[str | None] = mapped_column(Text)
    # 一件事 failed: when it was withdrawn (its case closed or its certificates revoked), and
    # the certificates of it the registry revoked since.
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[list[str]] = mapped_column(JSON, default=list)


# A child accepted at once, or released: its application, first timeline entry and event, one
# statement (the bundle's own transaction, or the consumer's that releases it).
CHILD: Insert = _insert_bound(ApplicationRow.__table__, "app_").add_cte(  # type: ignore[arg-type]
    _insert_bound(TimelineEntryRow.__table__, "entry_", skip=("id",)).cte("first_entry"),  # type: ignore[arg-type]
    insert_row("event_").cte("announcement"),
)
