"""Helpers shared by the team access pages: form errors, the not-found page, the client's address."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session

from billow.errors import BillowError
from billow.web.templating import render


def field_errors(error: BillowError | ValidationError) -> dict[str, list[str]]:
    """``{field: [code, ...]}`` of a service's validation error or of a Pydantic input built from a form."""
    if isinstance(error, ValidationError):
        details: dict[str, list[str]] = {}
        for item in error.errors():
            field = str(item["loc"][-1]) if item["loc"] else "base"
            code = (
                "value_is_out_of_range"
                if "greater" in item["type"] or "less" in item["type"]
                else "value_is_invalid"
            )
            details.setdefault(field, []).append(code)
        return details
    found = error.error_details if isinstance(error.error_details, dict) else {}
    if not found and error.code:
        return {"base": [error.code]}
    return {str(k): [str(c) for c in v] if isinstance(v, list) else [str(v)] for k, v in found.items()}


def invalid(
    request: Request,
    session: Session,
    template: str,
    context: dict[str, Any],
    error: BillowError | ValidationError,
) -> HTMLResponse:
    """The form again with the error codes next to its fields (422); nothing of the request is kept."""
    session.rollback()
    return render(request, template, {**context, "errors": field_errors(error)}, status_code=422)


def not_found(request: Request, what: str) -> HTMLResponse:
    return render(
        request, "access/message.html", {"title": "Not found", "message": f"This {what} does not exist."}, 404
    )


def done(path: str, flash: str) -> RedirectResponse:
    """Post/Redirect/Get with a short message."""
    from urllib.parse import quote

    return RedirectResponse(f"{path}?flash={quote(flash)}", status_code=303)


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"
