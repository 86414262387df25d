"""Invoice numbers (Lago's ``document_numbering``): counters kept in :class:`InvoiceSequence` rows.

The counters are incremented with one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` inside the
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


def next_values(session: Session, organization_id: uuid.UUID, scopes: list[str]) -> dict[str, int]:
    """Increment and return the invoice counters of ``scopes`` (distinct) in ONE statement; the rows are
    locked in the order of ``scopes`` (callers keep one order, so two transactions never deadlock)."""
    table = InvoiceSequence.__table__
    dialect_insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).values(
        [{"organization_id": organization_id, "scope": scope, "last_value": 1} for scope in scopes]
    )
    rows = session.execute(
        statement.on_conflict_do_update(
            index_elements=[table.c.organization_id, table.c.scope],
            set_={"last_value": table.c.last_value + 1},
        ).returning(table.c.scope, table.c.last_value)
    ).all()
    values = {row[0]: row[1] for row in rows}
    if set(values) != set(scopes):
        raise RuntimeError(f"invoice counters {scopes} not all incremented")
    return values


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
    # One statement for both counters (the organization's row first, as every caller).
    customer_scope = f"customer:{customer.id}"
    values = next_values(session, organization.id, ["organization", customer_scope])
    organization_seq, customer_seq = values["organization"], values[customer_scope]
    prefix = organization.document_number_prefix
    if organization.document_numbering == "per_organization":
        number = f"{prefix}-{issuing_date:%Y%m}-{organization_seq:03d}"
    else:
        number = f"{prefix}-{customer.sequential_id:03d}-{customer_seq:03d}"
    return InvoiceNumber(number, customer_seq, organization_seq)


def draft_number(organization: Organization) -> str:
    """The number of a draft (and of a closed invoice): no counter is consumed."""
    return f"{organization.document_number_prefix}-DRAFT"
