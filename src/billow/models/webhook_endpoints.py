from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import UTCDateTime


class WebhookEndpoint(TenantMixin, Base):
    """A URL that receives the organization's webhooks, signed with ``signature_algo``.

    ``event_types`` restricts delivery to those webhook types: ``None`` means every type, ``[]`` none
    (as Lago). Deleted for real.
    """

    __tablename__ = "webhook_endpoints"
    __table_args__ = (
        Index(
            "uq_webhook_endpoints_organization_id_webhook_url", "organization_id", "webhook_url", unique=True
        ),
    )

    webhook_url: Mapped[str] = mapped_column(String(1024))
    signature_algo: Mapped[str] = mapped_column(String(16), default="jwt")
    name: Mapped[str | None] = mapped_column(String(255))
    event_types: Mapped[list[str] | None] = mapped_column(JSON)
    #: Delivery lease (:mod:`billow.webhooks.delivery`): one deliverer per endpoint at a time, so its
    #: webhooks go out in order; a deliverer that died loses the lease when it expires.
    delivery_lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivery_lease_token: Mapped[str | None] = mapped_column(String(36))


#: Lago's webhook types, the values ``event_types`` accepts.
WEBHOOK_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "alert.triggered",
        *(f"billable_metric.{e}" for e in ("created", "updated", "deleted")),
        *(f"credit_note.{e}" for e in ("created", "generated", "provider_refund_failure")),
        *(
            f"customer.{e}"
            for e in (
                "created",
                "updated",
                "accounting_provider_created",
                "accounting_provider_error",
                "crm_provider_created",
                "crm_provider_error",
                "payment_provider_created",
                "payment_provider_error",
                "checkout_url_generated",
                "tax_provider_error",
                "vies_check",
            )
        ),
        "dunning_campaign.finished",
        "event.error",
        "events.errors",
        *(f"feature.{e}" for e in ("created", "updated", "deleted")),
        *(f"fee.{e}" for e in ("created", "tax_provider_error")),
        "integration.provider_error",
        *(
            f"invoice.{e}"
            for e in (
                "created",
                "one_off_created",
                "paid_credit_added",
                "generated",
                "drafted",
                "ready_to_finalize",
                "voided",
                "deleted",
                "payment_dispute_lost",
                "payment_status_updated",
                "payment_overdue",
                "payment_failure",
                "resynced",
            )
        ),
        *(f"order.{e}" for e in ("created", "executed")),
        *(f"order_form.{e}" for e in ("created", "signed", "expired", "voided")),
        *(f"payment.{e}" for e in ("requires_action", "succeeded")),
        "payment_provider.error",
        *(f"payment_receipt.{e}" for e in ("created", "generated")),
        *(f"payment_request.{e}" for e in ("created", "payment_failure", "payment_status_updated")),
        *(f"plan.{e}" for e in ("created", "updated", "deleted")),
        *(f"quote.{e}" for e in ("created", "approved", "voided")),
        *(
            f"subscription.{e}"
            for e in (
                "started",
                "updated",
                "terminated",
                "canceled",
                "incomplete",
                "termination_alert",
                "trial_ended",
                "usage_threshold_reached",
            )
        ),
        *(f"wallet.{e}" for e in ("created", "updated", "terminated", "depleted_ongoing_balance")),
        *(f"wallet_transaction.{e}" for e in ("created", "updated", "payment_failure")),
    }
)


class WebhookSigningKeys(TenantMixin, Base):
    """An organization's keys for signing its webhooks (Lago's ``jwt`` and ``hmac`` schemes): an RSA key
    pair (the public key in clear: it is published) and an HMAC key, the secrets sealed
    (:mod:`billow.kit.secrets`). One row per organization, created on first use."""

    __tablename__ = "webhook_signing_keys"
    __table_args__ = (Index("uq_webhook_signing_keys_organization_id", "organization_id", unique=True),)

    public_key_pem: Mapped[str] = mapped_column(Text)
    private_key_sealed: Mapped[str] = mapped_column(Text)
    hmac_key_sealed: Mapped[str] = mapped_column(Text)
