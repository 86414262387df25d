"""The billing run writes its invoices with Core inserts: their creation is logged through the hook."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from billow.audit.capture import install
from billow.billing.run import bill_subscription
from billow.models.audit import ActivityLog
from billow.models.invoices import Invoice
from tests.fixtures.catalogs import setup_catalog
from tests.fixtures.factories import at

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


def test_each_invoice_of_the_run_is_logged_once(session: Session, factory: sessionmaker[Session]) -> None:
    install()
    org, customer, subscription = setup_catalog(session, external_id="sub_a")
    session.commit()
    assert bill_subscription(factory, subscription.id, at("2024-03-10T00:00:00")).invoices_created == 2
    with factory() as check:
        invoices = set(check.scalars(select(Invoice.id).where(Invoice.organization_id == org.id)))
        logs = check.scalars(
            select(ActivityLog).where(ActivityLog.resource_type == "Invoice").order_by(ActivityLog.logged_at)
        ).all()
    assert len(invoices) == 2
    assert {log.resource_id for log in logs} == invoices
    for log in logs:
        assert (log.activity_type, log.activity_source) == ("invoice.created", "system")
        assert log.external_customer_id == "cus_sub_a"
        assert log.organization_id == org.id
        assert log.activity_object is not None
        assert log.activity_object["status"] == "finalized"
        assert log.activity_object["customer_id"] == str(customer.id)
