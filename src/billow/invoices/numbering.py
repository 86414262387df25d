"""Invoice numbers (Lago's ``document_numbering``): counters kept in :class:`InvoiceSequence` rows.

The counters are incremented with one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` inside the
invoice's transaction: concurrent billing runs queue on the row lock, and a rollback gives the number
back, so numbers have no gaps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from billow.customers.models import Customer
from billow.invoices.models import InvoiceSequence
from billow.organizations.models import Organization

_TABLE = InvoiceSequence.__table__
#: Both counters of an invoice incremented in ONE statement, the organization's row first (every caller
#: locks in that order, so two transactions never deadlock). Written once as text with typed parameters:
#: SQLAlchemy cannot cache a multi-row ``insert().values([...])``, and compiled it for every invoice.
_NEXT_PAIR = text(
    "INSERT INTO invoice_sequences (organization_id, scope, last_value)"
    " VALUES (:organization_id, 'organization', 1), (:organization_id, :customer_scope, 1)"
    " ON CONFLICT (organization_id, scope) DO UPDATE SET last_value = invoice_sequences.last_value + 1"
    " RETURNING scope, last_value"
).bindparams(
    bindparam("organization_id", type_=_TABLE.c.organization_id.type),
    bindparam("customer_scope", type_=_TABLE.c.scope.type),
)


def next_values(session: Session, organization_id: uuid.UUID, customer_scope: str) -> tuple[int, int]:
    """Increment the organization's invoice counter and ``customer_scope``'s (PostgreSQL and SQLite both
    speak this upsert); returns their new values. Concurrent callers queue on the rows' locks."""
    rows = session.execute(
        _NEXT_PAIR, {"organization_id": organization_id, "customer_scope": customer_scope}
    ).all()
    values = {row[0]: row[1] for row in rows}
    return values["organization"], values[customer_scope]


@dataclass(frozen=True)
class InvoiceNumber:
    number: str
    sequential_id: int
    """The customer's counter."""
    organization_sequential_id: int


def allocate(
    session: Session, organization: Organization, customer: Customer, issuing_date: date
) -> InvoiceNumber:
    """Take the next numbers of the customer's and the organization's counters and format the number."""
    organization_seq, customer_seq = next_values(session, organization.id, f"customer:{customer.id}")
    prefix = organization.document_number_prefix
    if organization.document_numbering == "per_organization":
        number = f"{prefix}-{issuing_date:%Y%m}-{organization_seq:03d}"
    else:
        number = f"{prefix}-{customer.sequential_id:03d}-{customer_seq:03d}"
    return InvoiceNumber(number, customer_seq, organization_seq)


def draft_number(organization: Organization) -> str:
    """The number of a draft (and of a closed invoice): no counter is consumed."""
    return f"{organization.document_number_prefix}-DRAFT"
