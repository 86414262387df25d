"""The audit log's reactions to writes the ORM does not see (hooks, :func:`billow.worker.dispatch.hook`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billow.audit.capture import log_created
from billow.billing.assembly import INVOICE_WRITTEN_HOOK
from billow.worker.dispatch import hook


@hook(INVOICE_WRITTEN_HOOK)
def invoice_written(session: Session, *, invoice: Any, **_details: Any) -> None:
    """``invoice.created`` (or ``invoice.drafted``) for an invoice of the billing run."""
    log_created(session, [invoice])
