"""FastAPI dependencies of the endpoints that read subscriptions (these, metering's and events'): the
request time, with the organization's due subscription transitions applied first."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Depends

from billow.auth import CurrentOrganization
from billow.db import DbSession, utcnow
from billow.subscriptions.follow_up import bill_after_commit
from billow.subscriptions.service import subscription_service


def request_time() -> datetime:
    """The instant the request is served at (tests override it to travel in time)."""
    return utcnow()


def transitions_applied(
    session: DbSession, organization: CurrentOrganization, now: Annotated[datetime, Depends(request_time)]
) -> datetime:
    """The request time, once the organization's due starts and ends are applied (so that reads are
    right between two scheduler runs)."""
    transitions = subscription_service.apply_due_transitions(session, now, organization.id)
    # The invoices of the subscriptions just started or ended follow the commit (the scan otherwise).
    bill_after_commit(session, [*transitions.terminated, *transitions.activated], now)
    return now


Now = Annotated[datetime, Depends(transitions_applied)]
