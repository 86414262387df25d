"""Errors, and the JSON shape they take on the wire (Lago's).

Hierarchy::

    BillowError                      status, error, code, error_details
    ├── BadRequest           400     malformed JSON, missing root key
    ├── Unauthorized         401     missing or unknown API key (no ``code``, as Lago)
    ├── Forbidden            403
    ├── NotFound             404     ``<resource>_not_found``
    ├── NotAllowed           405     business refusals: ``no_active_subscription``, ``invalid_status``...
    ├── PayloadTooLarge      413
    └── ValidationFailed     422     ``validation_errors`` + ``error_details {field: [codes]}``

Services raise these; one handler in :mod:`billow.app` writes them. ``error_details`` values are
stable code strings (``value_is_mandatory``, ``value_already_exist``, ``value_is_invalid``...), never
prose, because clients branch on them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class BillowError(Exception):
    status: int = 500
    error: str = "Internal Server Error"

    def __init__(self, code: str | None = None, error_details: Any = None, error: str | None = None):
        super().__init__(error or code or self.error)
        self.code = code
        self.error_details = error_details
        if error is not None:
            self.error = error

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"status": self.status, "error": self.error}
        if self.code is not None:
            body["code"] = self.code
        if self.error_details is not None:
            body["error_details"] = self.error_details
        return body


class BadRequest(BillowError):
    status = 400
    error = "BadRequest"

    def __init__(self, message: str, error_details: Any = None):
        super().__init__(code=None, error_details=error_details, error=f"BadRequest: {message}")


class Unauthorized(BillowError):
    status = 401
    error = "Unauthorized"


class Forbidden(BillowError):
    status = 403
    error = "Forbidden"


class NotFound(BillowError):
    status = 404
    error = "Not Found"

    def __init__(self, resource: str):
        super().__init__(code=f"{resource}_not_found")


class NotAllowed(BillowError):
    status = 405
    error = "Method Not Allowed"


class PayloadTooLarge(BillowError):
    status = 413
    error = "Payload Too Large"


class ValidationFailed(BillowError):
    """422 with ``error_details``: ``{"field": ["code", ...]}`` (a batch: ``{"0": {"field": [...]}}``)."""

    status = 422
    error = "Unprocessable Entity"

    def __init__(self, error_details: dict[str, Any] | None = None, code: str = "validation_errors"):
        super().__init__(code=code, error_details=error_details or {})

    @classmethod
    def one(cls, field: str, code: str) -> ValidationFailed:
        return cls({field: [code]})


class Errors:
    """Collects field errors so that one response names every problem of the input."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, field: str, code: str) -> None:
        codes = self.details.setdefault(field, [])
        if code not in codes:
            codes.append(code)

    def require(self, provided: dict[str, Any], fields: tuple[str, ...], *, creating: bool) -> None:
        """``value_is_mandatory`` for each field that a create lacks or that an update empties."""
        for field in fields:
            if (creating and not provided.get(field)) or (field in provided and not provided[field]):
                self.add(field, "value_is_mandatory")

    def __bool__(self) -> bool:
        return bool(self.details)

    def raise_if_any(self) -> None:
        if self.details:
            raise ValidationFailed(self.details)


class ErrorOut(BaseModel):
    """The body of every error answer (Lago's shape), as the OpenAPI document describes it."""

    status: int = Field(description="The HTTP status, repeated.")
    error: str = Field(description="The status' reason phrase (``BadRequest: <message>`` for a 400).")
    code: str | None = Field(
        default=None,
        description="What went wrong, for clients to branch on: ``validation_errors``, ``tax_not_found``...",
    )
    error_details: dict[str, Any] | None = Field(
        default=None,
        description="For 422 ``validation_errors``: ``{field: [code, ...]}`` (per index for a batch).",
    )


#: The error answers every API operation can give, for ``responses=`` of a route or router.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (400, "Malformed JSON body, or its root key missing"),
        (401, "Missing or unknown API key"),
        (404, "An object of the request was not found in the caller's organization"),
        (405, "Refused by a business rule (``code`` says which)"),
        (413, "Request body above the size limit"),
        (422, "Validation errors (``error_details``)"),
    )
}
