from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billow.models.customers import Customer, CustomerMetadata, CustomerSequence, CustomerTax
from billow.models.dunning import DunningCampaign
from billow.models.integrations import Integration, IntegrationCustomer
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.models.taxes import Tax
from billow.providers.interface import ProviderKind

#: Columns ``search_term`` looks into (Lago's searchable customer fields).
SEARCHABLE_COLUMNS = (
    Customer.name,
    Customer.firstname,
    Customer.lastname,
    Customer.legal_name,
    Customer.external_id,
    Customer.email,
)


def _like_pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class CustomerRepository:
    def by_external_id(
        self, session: Session, organization_id: uuid.UUID, external_id: str
    ) -> Customer | None:
        """The non-deleted customer with this ``external_id``."""
        return session.scalars(
            select(Customer).where(
                Customer.organization_id == organization_id,
                Customer.external_id == external_id,
                Customer.deleted_at.is_(None),
            )
        ).first()

    def dunning_campaign_by_code(
        self, session: Session, organization_id: uuid.UUID, code: str
    ) -> DunningCampaign | None:
        return session.scalars(
            select(DunningCampaign).where(
                DunningCampaign.organization_id == organization_id,
                DunningCampaign.code == code,
                DunningCampaign.deleted_at.is_(None),
            )
        ).first()

    def has_live_subscriptions(self, session: Session, customer_id: uuid.UUID) -> bool:
        """Whether the customer has an active or pending subscription."""
        live = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
        stmt = select(Subscription.id).where(
            Subscription.customer_id == customer_id, Subscription.status.in_(live)
        )
        return session.scalars(stmt.limit(1)).first() is not None

    def add(self, session: Session, customer: Customer) -> Customer:
        session.add(customer)
        session.flush()
        return customer

    def next_sequential_id(self, session: Session, organization_id: uuid.UUID) -> int:
        """Take the organization's next customer number, inside the caller's transaction.

        One ``UPDATE ... RETURNING`` increments the counter row: a concurrent transaction waits on the row
        lock and reads the incremented value once this one commits. The row is created on first use only
        (seeded from existing customers): seeding on every call would read the organization's highest
        customer number each time, a cost that grows with every customer.
        """
        table = CustomerSequence.__table__
        increment = (
            update(table)
            .where(table.c.organization_id == organization_id)
            .values(last_value=table.c.last_value + 1)
            .returning(table.c.last_value)
        )
        taken = session.execute(increment).scalar_one_or_none()
        if taken is not None:
            return taken
        dialect = session.get_bind().dialect.name
        dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        seed = (
            select(func.coalesce(func.max(Customer.sequential_id), 0))
            .where(Customer.organization_id == organization_id)
            .scalar_subquery()
        )
        # Two first customers at once: one insert wins, the other does nothing; both then increment.
        session.execute(
            dialect_insert(table)
            .values(organization_id=organization_id, last_value=seed)
            .on_conflict_do_nothing(index_elements=[table.c.organization_id])
        )
        return session.execute(increment).scalar_one()

    def list_stmt(
        self,
        organization_id: uuid.UUID,
        *,
        search_term: str | None = None,
        external_id: str | None = None,
        currencies: Sequence[str] = (),
        countries: Sequence[str] = (),
        states: Sequence[str] = (),
        zipcodes: Sequence[str] = (),
        account_types: Sequence[str] = (),
        customer_type: str | None = None,
        has_customer_type: bool | None = None,
        has_tax_identification_number: bool | None = None,
        metadata: dict[str, str] | None = None,
    ) -> Select[Customer]:
        stmt = select(Customer).where(
            Customer.organization_id == organization_id, Customer.deleted_at.is_(None)
        )
        if external_id:
            stmt = stmt.where(Customer.external_id == external_id)
        elif search_term:
            pattern = _like_pattern(search_term)
            stmt = stmt.where(or_(*(column.ilike(pattern, escape="\\") for column in SEARCHABLE_COLUMNS)))
        if currencies:
            stmt = stmt.where(Customer.currency.in_(currencies))
        if countries:
            stmt = stmt.where(Customer.country.in_(countries))
        if states:
            stmt = stmt.where(Customer.state.in_(states))
        if zipcodes:
            stmt = stmt.where(Customer.zipcode.in_(zipcodes))
        if account_types:
            stmt = stmt.where(Customer.account_type.in_(account_types))
        if customer_type:
            stmt = stmt.where(Customer.customer_type == customer_type)
        elif has_customer_type is not None:
            column = Customer.customer_type
            stmt = stmt.where(column.is_not(None) if has_customer_type else column.is_(None))
        if has_tax_identification_number is not None:
            column = Customer.tax_identification_number
            stmt = stmt.where(column.is_not(None) if has_tax_identification_number else column.is_(None))
        for key, value in (metadata or {}).items():
            matches = [CustomerMetadata.customer_id == Customer.id, CustomerMetadata.key == key]
            if value:
                stmt = stmt.where(exists().where(and_(*matches, CustomerMetadata.value == value)))
            else:
                stmt = stmt.where(~exists().where(and_(*matches)))
        return stmt.order_by(Customer.created_at.desc(), Customer.id)

    # Metadata

    def metadata_of(self, session: Session, customer_id: uuid.UUID) -> list[CustomerMetadata]:
        return list(
            session.scalars(
                select(CustomerMetadata)
                .where(CustomerMetadata.customer_id == customer_id)
                .order_by(CustomerMetadata.created_at, CustomerMetadata.key)
            )
        )

    def metadata_by_customer(
        self, session: Session, customer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[CustomerMetadata]]:
        ids = list(customer_ids)
        found: dict[uuid.UUID, list[CustomerMetadata]] = {customer_id: [] for customer_id in ids}
        if ids:
            rows = session.scalars(
                select(CustomerMetadata)
                .where(CustomerMetadata.customer_id.in_(ids))
                .order_by(CustomerMetadata.created_at, CustomerMetadata.key)
            )
            for row in rows:
                found[row.customer_id].append(row)
        return found

    # Taxes

    def taxes_by_customer(
        self, session: Session, customer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[Tax]]:
        ids = list(customer_ids)
        found: dict[uuid.UUID, list[Tax]] = {customer_id: [] for customer_id in ids}
        if ids:
            rows = session.execute(
                select(CustomerTax.customer_id, Tax)
                .join(Tax, Tax.id == CustomerTax.tax_id)
                .where(CustomerTax.customer_id.in_(ids))
                .order_by(CustomerTax.created_at, Tax.code)
            )
            for customer_id, tax in rows:
                found[customer_id].append(tax)
        return found

    def integration_customers_by_customer(
        self, session: Session, organization_id: uuid.UUID, customer_ids: Iterable[uuid.UUID]
    ) -> dict[uuid.UUID, list[dict[str, Any]]]:
        """Each customer's links to live integrations, in Lago's ``integration_customers`` shape."""
        ids = list(customer_ids)
        found: dict[uuid.UUID, list[dict[str, Any]]] = {customer_id: [] for customer_id in ids}
        if ids:
            rows = session.execute(
                select(IntegrationCustomer, Integration)
                .join(Integration, Integration.id == IntegrationCustomer.integration_id)
                .where(
                    IntegrationCustomer.organization_id == organization_id,
                    IntegrationCustomer.customer_id.in_(ids),
                    Integration.deleted_at.is_(None),
                    # Lago lists accounting/CRM links only: the payment provider's customer is
                    # ``billing_configuration.provider_customer_id``.
                    Integration.kind != ProviderKind.PAYMENT,
                )
                .order_by(IntegrationCustomer.created_at, IntegrationCustomer.id)
            )
            for link, integration in rows:
                found[link.customer_id].append(
                    {
                        "lago_id": str(link.id),
                        "type": integration.type,
                        "integration_code": integration.code,
                        "external_customer_id": link.external_customer_id,
                        "sync_with_provider": link.sync_with_provider,
                        "subsidiary_id": (link.settings or {}).get("subsidiary_id"),
                    }
                )
        return found

    def replace_taxes(self, session: Session, customer: Customer, taxes: Sequence[Tax]) -> None:
        """Make ``taxes`` the customer's taxes: links to other taxes go, existing links stay."""
        wanted = [tax.id for tax in taxes]
        mine = CustomerTax.customer_id == customer.id
        session.execute(delete(CustomerTax).where(mine, CustomerTax.tax_id.not_in(wanted)))
        present = set(session.scalars(select(CustomerTax.tax_id).where(mine)))
        session.add_all(
            CustomerTax(organization_id=customer.organization_id, customer_id=customer.id, tax_id=tax_id)
            for tax_id in wanted
            if tax_id not in present
        )
        session.flush()


customer_repository = CustomerRepository()
