"""The body of ``POST /invoices/{id}/resend_email`` and ``/credit_notes/{id}/resend_email`` (Lago's:
top-level ``to``, ``cc`` and ``bcc`` lists, all optional)."""

from __future__ import annotations

from pydantic import Field

from billow.kit.schemas import Input

#: The most addresses of one list.
MAX_RECIPIENTS = 50


class ResendEmailInput(Input):
    #: Default: the customer's ``email`` (a comma-separated list is split).
    to: list[str] | None = Field(default=None, max_length=MAX_RECIPIENTS)
    cc: list[str] | None = Field(default=None, max_length=MAX_RECIPIENTS)
    bcc: list[str] | None = Field(default=None, max_length=MAX_RECIPIENTS)
