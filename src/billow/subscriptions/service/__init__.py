"""Subscription rules, one module per use case; :data:`subscription_service` is the one entry point the
endpoints and the other domains call.

- :mod:`.create`: create (the customer too if unknown); a live external id re-posted with another plan
  is a plan change, :mod:`.plan_change` (upgrade now, downgrade at the period end);
- :mod:`.update`, :mod:`.termination` (``DELETE``: terminate, or cancel a pending subscription);
- :mod:`.transitions`: the timed ones (pending → active at ``subscription_at``, active → terminated at
  ``ending_at``, a pending downgrade replacing its subscription at ``plan_change_at``);
- :mod:`.read` (the API's reads) and :mod:`.queries` (what billing reads: ``plan_fee_end``,
  ``charges_carried_over``); :mod:`.common`: what they share.

``plan_overrides`` give the subscription a child plan of its plan (:meth:`PlanService.override`);
the subscription's ``plan_code`` stays the parent's. Not here: trials (``trial_ended_at`` stays null).
Error codes are Lago's: ``invalid_date``, ``currencies_does_not_match``, ``value_already_exist``,
``invalid_value``, ``subscription_not_found``, ``plan_not_found``.
"""

from __future__ import annotations

from billow.subscriptions.service import create as creation
from billow.subscriptions.service import queries, read, termination, transitions
from billow.subscriptions.service import update as updating
from billow.subscriptions.service.transitions import DueTransitions


class SubscriptionService:
    """The use cases of :mod:`billow.subscriptions.service`'s modules, under one name."""

    create = staticmethod(creation.create)
    get = staticmethod(read.get)
    list_stmt = staticmethod(read.list_stmt)
    plan_changes = staticmethod(read.plan_changes)
    update = staticmethod(updating.update)
    terminate = staticmethod(termination.terminate)
    apply_due_transitions = staticmethod(transitions.apply_due_transitions)
    replaced_by_plan_change = staticmethod(queries.replaced_by_plan_change)
    plan_fee_end = staticmethod(queries.plan_fee_end)
    charges_carried_over = staticmethod(queries.charges_carried_over)


subscription_service = SubscriptionService()

__all__ = ["DueTransitions", "SubscriptionService", "subscription_service"]
