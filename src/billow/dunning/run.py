"""The dunning campaigns' run: the scan ``dunning.run``, one transaction per customer.

For each customer that is not excluded, under its campaign (its own, else the organization's default):
:func:`billow.dunning.decisions.decide` over its overdue balance per currency (what its finalized,
overdue, unpaid invoices still owe) and its attempt counter:

* **an attempt**: a payment request of the currency's overdue invoices for each currency whose balance
  reached the campaign's threshold, through :meth:`billow.payments.requests.PaymentRequestService.open`
  (the path of ``POST /payment_requests``: ``payment_request.created``, the e-mail, copied to the
  campaign's ``bcc_emails``, and the provider's collection), with ``dunning_campaign_id``; then
  ``last_dunning_campaign_attempt`` + 1 and ``last_dunning_campaign_attempt_at`` = the run's instant.
  Each attempt sends every overdue invoice of the currency again, those of earlier (unpaid) requests too,
  as Lago does.
* **the end**: ``max_attempts`` made, ``days_between_attempts`` passed and still overdue:
  ``dunning_campaign.finished`` (``DunningCampaignFinishedObject``), once (``dunning_campaign_completed``).

The customer's row is locked first and everything is read again under the lock: two runs at once, or a
run replayed after a crash, make one attempt (the second sees the new counter and date), and a crash
before the commit writes nothing.

The counter starts over (:func:`billow.customers.service.reset_dunning`) when the customer's campaign
changes (:mod:`billow.customers.service`, :mod:`billow.dunning.service`) and when its overdue balance is
paid: an invoice that becomes ``succeeded`` (hook ``invoices.payment_status_changed``) queues the task
``dunning.reset_if_paid`` after the commit (not in the payment's transaction, which holds invoice locks
that a run waits on while holding a customer's), and the scan resets any customer left with attempts and
nothing overdue.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billow.customers.service import reset_dunning
from billow.dunning.decisions import decide
from billow.dunning.repository import dunning_repository as repository
from billow.dunning.views import applicable_campaign, finished_object, invoice_balances
from billow.invoices.service import PAYMENT_STATUS_CHANGED
from billow.kit.locking import lock_row
from billow.models.customers import Customer
from billow.models.invoices import Invoice, PaymentStatus
from billow.models.organizations import Organization
from billow.payments.requests import payment_request_service
from billow.webhooks.outbox import emit
from billow.worker.dispatch import after_commit, hook, task
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger(__name__)

RESET_TASK = "dunning.reset_if_paid"

ATTEMPTED = "attempted"
FINISHED = "finished"
RESET = "reset"


@scan("dunning.run", every=timedelta(hours=1))
def run_campaigns(session_factory: SessionFactory, now: datetime) -> int:
    """Process every customer a campaign may act on; returns how many had an attempt or an end."""
    with session_factory() as session:
        candidates = repository.candidates(session)
    count = 0
    for organization_id, customer_id in candidates:
        try:
            outcome = process_customer(session_factory, organization_id, customer_id, now)
        except Exception:  # one customer never stops the run; the next run tries again
            log.exception("dunning of customer %s failed", customer_id)
            continue
        count += outcome in (ATTEMPTED, FINISHED)
    return count


def process_customer(
    session_factory: SessionFactory, organization_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> str | None:
    """One customer's step of its campaign, in its own transaction. Returns what was done."""
    with session_factory() as session, session.begin():
        return step(session, organization_id, customer_id, now)


def step(session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, now: datetime) -> str | None:
    customer = lock_row(session, Customer, customer_id)
    if customer.organization_id != organization_id or customer.deleted_at is not None:
        return None
    invoices = repository.overdue_invoices(session, organization_id, customer_id)
    balances = invoice_balances(session, invoices)
    if not balances:
        if _started(customer):
            reset_dunning(customer)  # paid (the hook's task may not have run): the next overdue starts over
            return RESET
        return None
    campaign = applicable_campaign(session, customer)
    if campaign is None:
        return None
    thresholds = {
        t.currency: t.amount_cents
        for t in repository.thresholds_by_campaign(session, organization_id, [campaign.id]).get(
            campaign.id, []
        )
    }
    decision = decide(
        balances=balances,
        thresholds=thresholds,
        attempts=customer.last_dunning_campaign_attempt,
        last_attempt_at=customer.last_dunning_campaign_attempt_at,
        completed=customer.dunning_campaign_completed,
        days_between_attempts=campaign.days_between_attempts,
        max_attempts=campaign.max_attempts,
        now=now,
    )
    if decision.attempt:
        organization = session.get(Organization, organization_id)
        assert organization is not None
        for currency in decision.attempt:
            _request(session, organization, customer, campaign.id, campaign.bcc_emails, invoices, currency)
        customer.last_dunning_campaign_attempt += 1
        customer.last_dunning_campaign_attempt_at = now
        session.flush()
        return ATTEMPTED
    if decision.finish:
        payload = finished_object(customer, campaign.code, balances)
        emit(
            session,
            organization_id,
            "dunning_campaign.finished",
            "dunning_campaign",
            customer.id,
            payload=payload,
        )
        customer.dunning_campaign_completed = True
        session.flush()
        return FINISHED
    return None


def _request(
    session: Session,
    organization: Organization,
    customer: Customer,
    campaign_id: uuid.UUID,
    bcc: list[str] | None,
    invoices: list[Invoice],
    currency: str,
) -> None:
    chosen = [invoice for invoice in invoices if invoice.currency == currency]
    payment_request_service.open(
        session,
        organization,
        customer,
        chosen,
        customer.email or "",
        dunning_campaign_id=campaign_id,
        bcc=[address.strip() for address in bcc or []],
    )


def _started(customer: Customer) -> bool:
    return bool(
        customer.last_dunning_campaign_attempt
        or customer.last_dunning_campaign_attempt_at
        or customer.dunning_campaign_completed
    )


# ------------------------------------------------------------------------------------ reset on payment


@hook(PAYMENT_STATUS_CHANGED)
def on_payment_status_changed(session: Session, *, invoice: Invoice, **_: Any) -> None:
    if invoice.payment_status == PaymentStatus.SUCCEEDED:
        after_commit(session, RESET_TASK, f"{invoice.organization_id}|{invoice.customer_id}")


@task(RESET_TASK)
def reset_if_paid(session_factory: SessionFactory, payload: str, now: datetime) -> None:
    """The customer's attempts start over if nothing is overdue any more (idempotent)."""
    organization_id, _, customer_id = payload.partition("|")
    with session_factory() as session, session.begin():
        customer = lock_row(session, Customer, uuid.UUID(customer_id))
        if customer.organization_id != uuid.UUID(organization_id) or not _started(customer):
            return
        invoices = repository.overdue_invoices(session, customer.organization_id, customer.id)
        if not invoice_balances(session, invoices):
            reset_dunning(customer)
