"""How each object type is rendered in a webhook: as the API renders it.

The domains that own the objects register their renderer with :func:`renderer` (they sit above this
package: it finds them by module name, :data:`RENDERER_MODULES`, as the worker finds tasks). A renderer
takes the organization and object ids and answers each object's JSON (what the API's response model
dumps), leaving out the ids it cannot find.
"""

from __future__ import annotations

import importlib
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session

from billow.models.organizations import Organization

Renderer = Callable[[Session, Organization, Sequence[uuid.UUID]], dict[uuid.UUID, dict[str, Any]]]

RENDERERS: dict[str, Renderer] = {}

#: Modules that register renderers (imported before one is looked up).
RENDERER_MODULES: list[str] = [
    "billow.alerts.views",
    "billow.customers.views",
    "billow.invoices.views",
    "billow.subscriptions.views",
    "billow.plans.views",
    "billow.billable_metrics.views",
    "billow.wallets.views",
    "billow.credit_notes.views",
    "billow.payments.views",
    "billow.integrations.views",
    "billow.dunning.views",
]


def renderer(object_type: str) -> Callable[[Renderer], Renderer]:
    """Register ``function(session, organization, ids)`` as the renderer of ``object_type``."""

    def register(function: Renderer) -> Renderer:
        RENDERERS[object_type] = function
        return function

    return register


def load_all() -> dict[str, Renderer]:
    for module in RENDERER_MODULES:
        importlib.import_module(module)
    return RENDERERS


def envelope(
    webhook_type: str, object_type: str, organization_id: uuid.UUID, payload: dict[str, Any] | None
) -> dict[str, Any]:
    """Lago's webhook body: ``{webhook_type, object_type, organization_id, <object_type>: object}``."""
    return {
        "webhook_type": webhook_type,
        "object_type": object_type,
        "organization_id": str(organization_id),
        object_type: payload,
    }
