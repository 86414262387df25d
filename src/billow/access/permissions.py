"""What a member may do: the permission list and the built-in roles.

A permission is ``<area>:<action>`` (Lago's naming). A role is a set of permissions; the four built-in
roles below exist in every organization, and an organization may define custom roles from
:data:`PERMISSIONS`. The dashboard checks permissions on the server, on every route
(:func:`billow.web.auth.require`): hiding a button is never the check.
"""

from __future__ import annotations

AREAS: dict[str, tuple[str, ...]] = {
    "analytics": ("view",),
    "billable_metrics": ("view", "create", "update", "delete"),
    "plans": ("view", "create", "update", "delete"),
    "add_ons": ("view", "create", "update", "delete"),
    "coupons": ("view", "create", "update", "delete", "attach", "detach"),
    "taxes": ("view", "create", "update", "delete"),
    "customers": ("view", "create", "update", "delete"),
    "subscriptions": ("view", "create", "update", "terminate"),
    "events": ("view", "create"),
    "invoices": ("view", "create", "update", "finalize", "void", "send"),
    "payments": ("view", "create"),
    "credit_notes": ("view", "create", "void"),
    "wallets": ("view", "create", "update", "top_up", "terminate"),
    "webhooks": ("view", "manage"),
    "api_keys": ("view", "manage"),
    "members": ("view", "manage"),
    "roles": ("view", "manage"),
    "organization": ("view", "update"),
    "integrations": ("view", "manage"),
    "audit_logs": ("view",),
}

#: Every permission, in a stable order.
PERMISSIONS: tuple[str, ...] = tuple(
    f"{area}:{action}" for area, actions in AREAS.items() for action in actions
)

_VIEW = frozenset(p for p in PERMISSIONS if p.endswith(":view"))
_DEVELOPER = frozenset(
    p
    for p in PERMISSIONS
    if p.split(":")[0] in {"webhooks", "api_keys", "members", "roles", "organization", "integrations"}
)
_FINANCE = _VIEW | frozenset(
    {
        "invoices:create",
        "invoices:update",
        "invoices:finalize",
        "invoices:void",
        "invoices:send",
        "payments:create",
        "credit_notes:create",
        "credit_notes:void",
        "wallets:create",
        "wallets:update",
        "wallets:top_up",
        "wallets:terminate",
        "coupons:attach",
        "coupons:detach",
    }
)

#: The built-in roles (names are stable: they are stored on members).
BUILTIN_ROLES: dict[str, frozenset[str]] = {
    # Everything, including members, roles, API keys and settings.
    "admin": frozenset(PERMISSIONS),
    # Runs the business: catalog, customers, subscriptions, invoices; not the organization's access.
    "manager": frozenset(PERMISSIONS) - _DEVELOPER
    | frozenset({"webhooks:view", "api_keys:view", "members:view", "organization:view", "integrations:view"}),
    # Reads everything; collects money (invoices, payments, credit notes, wallets, coupons on customers).
    "finance": _FINANCE,
    # Reads everything, changes nothing.
    "viewer": _VIEW,
}
