"""Lago's ``payment_method`` object (``PaymentMethodObject``), its envelope and its list."""

from __future__ import annotations

import uuid
from typing import Any

from billow.kit.pagination import PageMeta
from billow.kit.schemas import Output, Timestamp


class PaymentMethodOut(Output):
    lago_id: uuid.UUID
    is_default: bool
    payment_provider_code: str | None
    payment_provider_name: str | None
    payment_provider_type: str
    provider_method_id: str
    method_type: str
    details: dict[str, Any]
    created_at: Timestamp


class PaymentMethodEnvelope(Output):
    payment_method: PaymentMethodOut


class PaymentMethodList(Output):
    payment_methods: list[PaymentMethodOut]
    meta: PageMeta
