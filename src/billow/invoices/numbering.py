"""Invoice numbers (Lago's ``document_numbering``): counters kept in :class:`InvoiceSequence` rows.

A counter is incremented with one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` inside the
invoice's transaction: concurrent billing runs queue on the row lock, and a rollback gives the number
back, so numbers have no gaps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billow.customers.models import Customer
from billow.invoices.models import InvoiceSequence
from billow.organizations.models import Organization


def next_value(session: Session, organization_id: uuid.UUID, scope: str) -> int:
    """Increment and return the invoice counter of ``scope``; concurrent callers queue on the row."""
    table = InvoiceSequence.__table__
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).values(organization_id=organization_id, scope=scope, last_value=1)
    return session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.organization_id, table.c.scope],
            set_={"last_value": table.c.last_value + 1},
        ).returning(table.c.last_value)
    ).scalar_one()


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
    organization_seq = next_value(session, organization.id, "organization")
    customer_seq = next_value(session, organization.id, f"customer:{customer.id}")
    prefix = organization.document_number_prefix
    if organization.document_numbering == "per_organization":
        number = f"{prefix}-{issuing_date:%Y%m}-{organization_seq:03d}"
    else:
        number = f"{prefix}-{customer.sequential_id:03d}-{customer_seq:03d}"
    return InvoiceNumber(number, customer_seq, organization_seq)


def draft_number(organization: Organization) -> str:
    """The number of a draft (and of a closed invoice): no counter is consumed."""
    return f"{organization.document_number_prefix}-DRAFT"
