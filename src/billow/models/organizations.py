"""Organizations (tenants) and their API keys.

Design overview: an organization owns everything; every other table carries ``organization_id``.
An API key is shown once at creation and stored as its SHA-256 digest. Keys are 256-bit random
tokens, so a fast hash is enough: there is nothing to brute-force, and a slow password hash on every
request would cap the API at tens of requests per second. Only the keys Billow issues keep a display
prefix (``blw_`` and 4 characters of their 43-character token); a key chosen by the operator
(``BILLOW_API_KEY``) keeps nothing but its digest. A revoked key (``revoked_at``) no longer
authenticates, from the next request on (no process caches keys); nor does an expired one
(``expires_at``, set when the key is rotated).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, RecordMixin
from billow.kit.db_types import UTCDateTime


class Organization(RecordMixin, Base):
    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(255))
    webhook_url: Mapped[str | None] = mapped_column(String(1024))
    country: Mapped[str | None] = mapped_column(String(2))
    default_currency: Mapped[str] = mapped_column(String(3), default="USD")
    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(255))
    legal_name: Mapped[str | None] = mapped_column(String(255))
    legal_number: Mapped[str | None] = mapped_column(String(255))
    tax_identification_number: Mapped[str | None] = mapped_column(String(255))
    net_payment_term: Mapped[int] = mapped_column(default=0)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    document_numbering: Mapped[str] = mapped_column(String(32), default="per_customer")
    document_number_prefix: Mapped[str] = mapped_column(String(64), default="")
    email_settings: Mapped[list[str]] = mapped_column(JSON, default=list)
    finalize_zero_amount_invoice: Mapped[bool] = mapped_column(default=True)
    invoice_footer: Mapped[str | None] = mapped_column(String(2048))
    invoice_grace_period: Mapped[int] = mapped_column(default=0)
    document_locale: Mapped[str] = mapped_column(String(16), default="en")
    #: Billow: bill a backdated subscription's periods due before its creation (``None``: the server's
    #: ``BILLOW_BILL_BACKDATED_PERIODS``).
    bill_backdated_periods: Mapped[bool | None] = mapped_column()


class ApiKey(RecordMixin, Base):
    __tablename__ = "api_keys"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    #: SHA-256 hex digest of the key; the key itself is never stored. Serves the per-request lookup.
    value_digest: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``blw_`` and the first 4 characters of a key Billow issued, to tell keys apart in listings;
    #: empty for any other key (nothing of an operator-chosen key is stored but its digest).
    prefix: Mapped[str] = mapped_column(String(16))
    #: What the key is for (``billow api-keys create --name``); ``None`` for the first key of an organization.
    name: Mapped[str | None] = mapped_column(String(255))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: A rotated key's end (``None``: no end); from then on it no longer authenticates.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last authenticated request, refreshed at most once a minute (``None``: never used).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
