"""Activity logs, captured from the ORM: one row per created, updated or deleted business object,
written in the transaction that makes the change (a rolled-back request logs nothing).

**Where it hooks.** :func:`install` registers listeners on SQLAlchemy's ``Session`` *class* (so every
session of the process, whatever sessionmaker made it: the API's, the tasks', the scans', the CLI's),
idempotently; ``billow.app.create_app``, the CLI and the retention scan's module call it. A listener
on the class rather than on :func:`billow.db.make_sessionmaker`'s factory because ``billow.db`` sits
below every domain and must not know the audit log; the webhook outbox hooks the same way.

* ``after_flush``: the session's new, dirty and deleted objects are still listed and their attribute
  history still holds the old values, and the new rows have their ids: each object of a tracked table
  (:data:`TRACKED`) becomes a pending entry in ``session.info``, merged with the entry the same object
  already has in the same transaction (created then updated = one ``.created`` with the final state;
  updated twice = one ``.updated`` from the first old value to the last new one).
* ``before_commit``: flush what is left, then write the pending entries with one Core ``INSERT`` (no
  unit-of-work, no new flush), with the actor of the session (:func:`billow.kit.actor.actor_of`) and
  the external ids of the customers and subscriptions named (at most two small queries).
* A rolled-back savepoint drops the entries recorded inside it; the end of the transaction drops the rest.

**Not captured** (documented in ``docs/audit.md``): Core ``insert``/``update``/``delete`` statements
(they bypass the unit of work: bulk updates of scans; the billing run's invoices are logged through
the hook ``billing.invoice_written`` and :func:`log_created`), tables not in :data:`TRACKED` (events and usage
rollups, outbox, jobs, sessions, fees, charges...), updates of :data:`IGNORED_COLUMNS` only.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import event, insert, inspect, select
from sqlalchemy.orm import Session, SessionTransaction, UOWTransaction
from sqlalchemy.orm.util import identity_key

from billow.kit.actor import actor_of
from billow.kit.schemas import decimal_str
from billow.models.audit import ActivityLog
from billow.models.customers import Customer
from billow.models.subscriptions import Subscription

Row = dict[str, Any]
#: ``(row before, row after) -> activity type`` of an update, or ``None`` for the generic ``.updated``.
Classifier = Callable[[Row, Row], str | None]


@dataclass(frozen=True)
class Tracked:
    """A table whose changes are logged: Lago's object type (``billable_metric``) and class name."""

    object_type: str
    resource_type: str
    #: The type of a creation, from the new row (default ``<object>.created``).
    created: Callable[[Row], str] | None = None
    #: A specific type for an update (``subscription.terminated``...), else ``<object>.updated``.
    updated: Classifier | None = None


def _subscription_created(row: Row) -> str:
    return "subscription.started" if row.get("status") == "active" else "subscription.created"


def _subscription_updated(before: Row, after: Row) -> str | None:
    status = after.get("status")
    if status == before.get("status"):
        return None
    if status == "active":
        return "subscription.started"
    if status in ("terminated", "canceled"):
        return "subscription.terminated"
    return None


def _invoice_created(row: Row) -> str:
    return "invoice.drafted" if row.get("status") == "draft" else "invoice.created"


def _invoice_updated(before: Row, after: Row) -> str | None:
    status = after.get("status")
    if "status" in before and status != before["status"]:
        return {"finalized": "invoice.created", "voided": "invoice.voided", "failed": "invoice.failed"}.get(
            str(status)
        )
    if "payment_status" in before and after.get("payment_status") != before["payment_status"]:
        return "invoice.payment_status_updated"
    if after.get("payment_overdue") and "payment_overdue" in before:
        return "invoice.payment_overdue"
    return None


def _status_to(value: str, activity: str) -> Classifier:
    def classify(before: Row, after: Row) -> str | None:
        changed = "status" in before and after.get("status") != before["status"]
        return activity if changed and after.get("status") == value else None

    return classify


def _api_key_updated(before: Row, after: Row) -> str | None:
    return "api_key.revoked" if "revoked_at" in before and after.get("revoked_at") else None


#: Tracked tables (by table name) and their Lago object types. **A new table is tracked by adding it
#: here** (and to ``docs/audit.md``). Tables of ``billow.access`` (members, roles) are named here too:
#: an absent table costs nothing.
TRACKED: dict[str, Tracked] = {
    "billable_metrics": Tracked("billable_metric", "BillableMetric"),
    "plans": Tracked("plan", "Plan"),
    "customers": Tracked("customer", "Customer"),
    "subscriptions": Tracked(
        "subscription", "Subscription", created=_subscription_created, updated=_subscription_updated
    ),
    "invoices": Tracked("invoice", "Invoice", created=_invoice_created, updated=_invoice_updated),
    "coupons": Tracked("coupon", "Coupon"),
    "applied_coupons": Tracked(
        "applied_coupon", "AppliedCoupon", updated=_status_to("terminated", "applied_coupon.deleted")
    ),
    "add_ons": Tracked("add_on", "AddOn"),
    "taxes": Tracked("tax", "Tax"),
    "wallets": Tracked("wallet", "Wallet", updated=_status_to("terminated", "wallet.terminated")),
    "wallet_transactions": Tracked("wallet_transaction", "WalletTransaction"),
    "credit_notes": Tracked("credit_note", "CreditNote"),
    "payments": Tracked("payment", "Payment"),
    "payment_requests": Tracked("payment_request", "PaymentRequest"),
    "payment_receipts": Tracked("payment_receipt", "PaymentReceipt"),
    "payment_methods": Tracked("payment_method", "PaymentMethod"),
    "webhook_endpoints": Tracked("webhook_endpoint", "WebhookEndpoint"),
    "integrations": Tracked("integration", "Integration"),
    "dunning_campaigns": Tracked("dunning_campaign", "DunningCampaign"),
    "alerts": Tracked("alert", "Alert"),
    "organizations": Tracked("organization", "Organization"),
    "api_keys": Tracked("api_key", "ApiKey", updated=_api_key_updated),
    "members": Tracked("member", "Member"),
    "roles": Tracked("role", "Role"),
    "invitations": Tracked("invitation", "Invitation"),
}

#: Columns whose change alone is not an activity (bookkeeping), and that a change does not list.
IGNORED_COLUMNS = frozenset(
    {
        "updated_at",
        "delivery_lease_until",
        "delivery_lease_token",
        "last_used_at",
        "last_login_at",
        "last_seen_at",
    }
)

REDACTED_MARKERS = ("secret", "password", "digest", "token", "private_key", "hmac")


def redacted_column(name: str) -> bool:
    """Whether a column is never logged: ``*_sealed``, digests, secrets, passwords, tokens, keys."""
    lowered = name.lower()
    return lowered.endswith("_sealed") or any(marker in lowered for marker in REDACTED_MARKERS)


def json_safe(value: Any) -> Any:
    """A value as JSON stores it: decimals (``"20.0"``), instants and ids as strings."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, Decimal):
        return decimal_str(value)  # the same on both databases (PostgreSQL keeps the column's scale)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    return str(value)


@dataclass
class _Mapped:
    tracked: Tracked
    #: Logged columns: (attribute key, column name).
    columns: list[tuple[str, str]]


_BY_CLASS: dict[type, _Mapped | None] = {}


def _mapping_of(cls: type) -> _Mapped | None:
    try:
        return _BY_CLASS[cls]
    except KeyError:
        pass
    mapper: Any = inspect(cls, raiseerr=False)
    table = getattr(cls, "__tablename__", None)
    tracked = TRACKED.get(table) if isinstance(table, str) else None
    found = None
    if tracked is not None and mapper is not None:
        columns = [
            (attr.key, attr.columns[0].name)
            for attr in mapper.column_attrs
            if not redacted_column(attr.columns[0].name) and attr.columns[0].name not in IGNORED_COLUMNS
        ]
        found = _Mapped(tracked, columns)
    _BY_CLASS[cls] = found
    return found


@dataclass
class _Entry:
    transaction: SessionTransaction
    kind: str  # created / updated / deleted
    activity_type: str
    tracked: Tracked
    organization_id: uuid.UUID
    resource_id: uuid.UUID
    snapshot: Row
    changes: dict[str, list[Any]] = field(default_factory=dict)
    customer_id: uuid.UUID | None = None
    subscription_id: uuid.UUID | None = None
    external_customer_id: str | None = None
    external_subscription_id: str | None = None
    logged_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_PENDING = "billow.audit.pending"


def _snapshot(state: Any, mapped: _Mapped, created: bool = False) -> Row:
    """The logged columns' values. A new row's column never set is ``NULL`` (unless the database
    filled it: expired after the insert, left out); another row's unloaded column is left out."""
    values = state.dict
    if not created:
        return {name: json_safe(values[key]) for key, name in mapped.columns if key in values}
    expired = state.expired_attributes
    return {
        name: json_safe(values.get(key))
        for key, name in mapped.columns
        if key in values or key not in expired
    }


def _changes(state: Any, mapped: _Mapped) -> tuple[Row, Row]:
    """``(old values, new values)`` of the changed logged columns."""
    before: Row = {}
    after: Row = {}
    attrs = state.attrs
    for key, name in mapped.columns:
        history = attrs[key].history  # no load: an unloaded attribute did not change
        if not history.added and not history.deleted:
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        old_json, new_json = json_safe(old), json_safe(new)
        if old_json != new_json:
            before[name] = old_json
            after[name] = new_json
    return before, after


def _entry(
    session: Session, obj: Any, mapped: _Mapped, kind: str, transaction: SessionTransaction
) -> _Entry | None:
    state = inspect(obj)
    tracked = mapped.tracked
    if tracked.object_type == "organization":
        organization_id = state.dict.get("id")
    else:
        organization_id = state.dict.get("organization_id")
    resource_id = state.dict.get("id")
    if not isinstance(organization_id, uuid.UUID) or not isinstance(resource_id, uuid.UUID):
        return None
    snapshot = _snapshot(state, mapped, created=kind == "created")
    changes: dict[str, list[Any]] = {}
    if kind == "created":
        activity = tracked.created(snapshot) if tracked.created else f"{tracked.object_type}.created"
    elif kind == "deleted":
        activity = f"{tracked.object_type}.deleted"
    else:
        before, after = _changes(state, mapped)
        if not after:
            return None
        changes = {name: [before[name], after[name]] for name in after}
        if "deleted_at" in after and before["deleted_at"] is None and after["deleted_at"] is not None:
            kind, activity = "deleted", f"{tracked.object_type}.deleted"
        else:
            specific = tracked.updated(before, {**snapshot, **after}) if tracked.updated else None
            activity = specific or f"{tracked.object_type}.updated"
    entry = _Entry(transaction, kind, activity, tracked, organization_id, resource_id, snapshot, changes)
    if tracked.object_type == "customer":
        entry.external_customer_id = snapshot.get("external_id")
    else:
        customer_id = state.dict.get("customer_id")
        entry.customer_id = customer_id if isinstance(customer_id, uuid.UUID) else None
    if tracked.object_type == "subscription":
        entry.external_subscription_id = snapshot.get("external_id")
    else:
        subscription_id = state.dict.get("subscription_id")
        entry.subscription_id = subscription_id if isinstance(subscription_id, uuid.UUID) else None
    return entry


def _merge(earlier: _Entry, later: _Entry) -> _Entry:
    """One entry for two changes of one object in one transaction."""
    if later.kind == "deleted" or earlier.kind == "updated":
        merged = dict(earlier.changes)
        for name, (old, new) in later.changes.items():
            merged[name] = [merged[name][0], new] if name in merged else [old, new]
        later.changes = {name: pair for name, pair in merged.items() if pair[0] != pair[1]}
        if later.kind == "updated" and later.activity_type.endswith(".updated"):
            later.activity_type = earlier.activity_type
        later.logged_at = earlier.logged_at
        return later
    # created, then updated: still a creation, with the final state
    earlier.snapshot = later.snapshot
    return earlier


def _record(session: Session, _flush: UOWTransaction) -> None:
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:  # pragma: no cover - a flush always runs in a transaction
        return
    pending: dict[tuple[int, str, uuid.UUID], _Entry] | None = None
    for objects, kind in ((session.new, "created"), (session.dirty, "updated"), (session.deleted, "deleted")):
        for obj in objects:
            mapped = _mapping_of(type(obj))
            if mapped is None:
                continue
            entry = _entry(session, obj, mapped, kind, transaction)
            if entry is None:
                continue
            if pending is None:
                pending = session.info.setdefault(_PENDING, {})
            key = (id(transaction), mapped.tracked.object_type, entry.resource_id)
            earlier = pending.get(key)
            pending[key] = entry if earlier is None else _merge(earlier, entry)


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _drop_rolled_back(session: Session, previous: SessionTransaction) -> None:
    pending: dict[tuple[int, str, uuid.UUID], _Entry] | None = session.info.get(_PENDING)
    if not pending:
        return
    for key, entry in list(pending.items()):
        if _within(entry.transaction, previous):
            del pending[key]


def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


def _write(session: Session) -> None:
    if session.new or session.dirty or session.deleted:
        session.flush()
    pending: dict[tuple[int, str, uuid.UUID], _Entry] | None = session.info.pop(_PENDING, None)
    if pending:
        write_entries(session, list(pending.values()))


def write_entries(session: Session, entries: list[_Entry]) -> None:
    """Insert the activity logs of ``entries``, with the session's actor and the external ids."""
    _resolve_external_ids(session, entries)
    actor = actor_of(session)
    rows = [
        {
            "id": uuid.uuid4(),
            "organization_id": e.organization_id,
            "created_at": e.logged_at,
            "updated_at": e.logged_at,
            "logged_at": e.logged_at,
            "activity_type": e.activity_type,
            "activity_source": actor.source,
            "activity_object": e.snapshot,
            "activity_object_changes": e.changes or None,
            "user_email": actor.email,
            "member_id": actor.member_id,
            "api_key_id": actor.api_key_id,
            "resource_id": e.resource_id,
            "resource_type": e.tracked.resource_type,
            "external_customer_id": e.external_customer_id,
            "external_subscription_id": e.external_subscription_id,
        }
        for e in entries
    ]
    session.execute(insert(ActivityLog.__table__), rows)


def _external_customer_id_in_session(session: Session, entry: _Entry) -> None:
    """The external id of the entry's customer when the session holds it loaded (no query)."""
    if entry.customer_id and not entry.external_customer_id:
        loaded = session.identity_map.get(identity_key(Customer, entry.customer_id))
        external_id = inspect(loaded).dict.get("external_id") if loaded is not None else None
        entry.external_customer_id = external_id if isinstance(external_id, str) else None


def _resolve_external_ids(session: Session, entries: Iterable[_Entry]) -> None:
    entries = list(entries)
    subscription_ids = {
        e.subscription_id for e in entries if e.subscription_id and not e.external_subscription_id
    }
    if subscription_ids:
        found = session.execute(
            select(Subscription.id, Subscription.external_id, Subscription.customer_id).where(
                Subscription.id.in_(subscription_ids)
            )
        ).all()
        by_id = {row.id: row for row in found}
        for e in entries:
            row = by_id.get(e.subscription_id) if e.subscription_id else None
            if row is not None:
                e.external_subscription_id = row.external_id
                e.customer_id = e.customer_id or row.customer_id
    for e in entries:
        _external_customer_id_in_session(session, e)
    customer_ids = {e.customer_id for e in entries if e.customer_id and not e.external_customer_id}
    if customer_ids:
        found_names = session.execute(
            select(Customer.id, Customer.external_id).where(Customer.id.in_(customer_ids))
        ).all()
        names = {row.id: row.external_id for row in found_names}
        for e in entries:
            if e.customer_id and not e.external_customer_id:
                e.external_customer_id = names.get(e.customer_id)


def log_created(session: Session, objects: Iterable[Any]) -> None:
    """Log the creation of ``objects`` whose rows were written with a Core ``INSERT`` (no ORM event sees
    them; e.g. the billing run's invoices, transient objects holding the values written). Recorded as
    pending entries of the session's transaction, written at its commit with the others. Nothing when
    the capture is not installed."""
    if not installed():
        return
    transaction = session.get_nested_transaction() or session.get_transaction()
    if transaction is None:
        return
    pending: dict[tuple[int, str, uuid.UUID], _Entry] = session.info.setdefault(_PENDING, {})
    for obj in objects:
        mapped = _mapping_of(type(obj))
        entry = _entry(session, obj, mapped, "created", transaction) if mapped is not None else None
        if mapped is not None and entry is not None:
            # Now, while the caller still holds the customer (the billing run's, locked with its
            # external id): no query at the commit.
            _external_customer_id_in_session(session, entry)
            pending[(id(transaction), mapped.tracked.object_type, entry.resource_id)] = entry


_LISTENERS: list[tuple[str, Callable[..., None]]] = [
    ("after_flush", _record),
    ("before_commit", _write),
    ("after_soft_rollback", _drop_rolled_back),
    ("after_transaction_end", _forget),
]


def installed() -> bool:
    return event.contains(Session, "after_flush", _record)


def install() -> None:
    """Capture the activity logs of every session of the process (idempotent)."""
    for name, listener in _LISTENERS:
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


def uninstall() -> None:
    """Stop capturing (tests, benchmarks)."""
    for name, listener in _LISTENERS:
        if event.contains(Session, name, listener):
            event.remove(Session, name, listener)
