"""Bodies of the per-subscription charge routes: Lago's charge and charge filter shapes (the plans'),
with ``lago_parent_id`` set on a child plan's charge (the parent plan's charge it overrides)."""

from __future__ import annotations

import uuid

from billow.kit.schemas import Input
from billow.plans.repository import ChargeGraph
from billow.plans.schemas import ChargeOut, ChargeOverrideInput, charge_out


class SubscriptionChargeRequest(Input):
    """``PUT /subscriptions/{external_id}/charges/{code}``: what a charge override may change."""

    charge: ChargeOverrideInput


def subscription_charge_out(graph: ChargeGraph, parent_ids: dict[uuid.UUID, uuid.UUID]) -> ChargeOut:
    """The charge as the plans show it, ``lago_parent_id`` the charge it overrides (or null)."""
    out = charge_out(graph)
    out.lago_parent_id = parent_ids.get(graph.charge.id)
    return out
