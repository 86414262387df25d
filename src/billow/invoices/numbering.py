"""Invoice numbers (Lago's ``document_numbering``): counters kept in :class:`InvoiceSequence` rows.

The counters are incremented with one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` inside the
invoice's transaction: concurrent billing runs queue on the row lock, and a rollback gives the number
back, so numbers have no gaps.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, text, update
from sqlalchemy.orm import Session

from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceSequence
from billow.models.organizations import Organization

_TABLE = InvoiceSequence.__table__
_INVOICES = Invoice.__table__
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


def _number_head(organization: Organization, customer: Customer, issuing_date: date) -> str:
    """The number without its counter: ``<prefix>-<YYYYMM>-`` or ``<prefix>-<customer's id>-``."""
    prefix = organization.document_number_prefix
    if organization.document_numbering == "per_organization":
        return f"{prefix}-{issuing_date:%Y%m}-"
    return f"{prefix}-{customer.sequential_id:03d}-"


def _per_organization(organization: Organization) -> bool:
    return organization.document_numbering == "per_organization"


def allocate(
    session: Session, organization: Organization, customer: Customer, issuing_date: date
) -> InvoiceNumber:
    """Take the next numbers of the customer's and the organization's counters and format the number."""
    organization_seq, customer_seq = next_values(session, organization.id, f"customer:{customer.id}")
    counter = organization_seq if _per_organization(organization) else customer_seq
    number = f"{_number_head(organization, customer, issuing_date)}{counter:03d}"
    return InvoiceNumber(number, customer_seq, organization_seq)


#: PostgreSQL: both counters incremented (as :data:`_NEXT_PAIR`) and the invoice's row numbered in ONE
#: statement (one round trip instead of two; the counters' row locks are taken as late as before). The
#: counter is formatted as Python's ``03d`` (zero-padded to 3 digits, longer numbers whole).
_NUMBER_INVOICE_PG = {
    per_organization: text(
        "WITH seq AS ("
        " INSERT INTO invoice_sequences (organization_id, scope, last_value)"
        " VALUES (:organization_id, 'organization', 1), (:organization_id, :customer_scope, 1)"
        " ON CONFLICT (organization_id, scope) DO UPDATE SET last_value = invoice_sequences.last_value + 1"
        " RETURNING scope, last_value),"
        " v AS (SELECT max(last_value) FILTER (WHERE scope = 'organization') AS org,"
        " max(last_value) FILTER (WHERE scope <> 'organization') AS cus FROM seq)"
        " UPDATE invoices SET organization_sequential_id = v.org, sequential_id = v.cus,"
        f" number = :number_head || CASE WHEN v.{counter} < 1000 THEN lpad(v.{counter}::text, 3, '0')"
        f" ELSE v.{counter}::text END"
        " FROM v WHERE invoices.id = :invoice_id AND invoices.organization_id = :organization_id"
        " RETURNING invoices.number, invoices.sequential_id, invoices.organization_sequential_id"
    ).bindparams(
        bindparam("organization_id", type_=_TABLE.c.organization_id.type),
        bindparam("customer_scope", type_=_TABLE.c.scope.type),
        bindparam("number_head", type_=_INVOICES.c.number.type),
        bindparam("invoice_id", type_=_INVOICES.c.id.type),
    )
    for per_organization, counter in ((True, "org"), (False, "cus"))
}


def number_invoice(
    session: Session,
    invoice_id: uuid.UUID,
    organization: Organization,
    customer: Customer,
    issuing_date: date,
) -> InvoiceNumber:
    """Number the invoice row ``invoice_id`` (already written, finalized): :func:`allocate`, then its
    ``number``, ``sequential_id`` and ``organization_sequential_id`` written; on PostgreSQL one
    statement."""
    if session.get_bind().dialect.name != "postgresql":
        number = allocate(session, organization, customer, issuing_date)
        session.execute(
            update(_INVOICES)
            .where(_INVOICES.c.id == invoice_id)
            .values(
                number=number.number,
                sequential_id=number.sequential_id,
                organization_sequential_id=number.organization_sequential_id,
            )
        )
        return number
    row = session.execute(
        _NUMBER_INVOICE_PG[_per_organization(organization)],
        {
            "organization_id": organization.id,
            "customer_scope": f"customer:{customer.id}",
            "number_head": _number_head(organization, customer, issuing_date),
            "invoice_id": invoice_id,
        },
    ).one()
    return InvoiceNumber(row[0], row[1], row[2])


def draft_number(organization: Organization) -> str:
    """The number of a draft (and of a closed invoice): no counter is consumed."""
    return f"{organization.document_number_prefix}-DRAFT"
