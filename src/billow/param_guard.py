"""NUL characters in path and query parameters: one answer on every database.

PostgreSQL refuses a NUL character in a query parameter of any text type (SQLite compares it), and no
stored string can contain one (request bodies refuse them, :mod:`billow.kit.strings`). So a path
parameter with a NUL names nothing: 404 ``<resource>_not_found``, the resource being the one the
parameter identifies (``/plans/{code}/charges/{charge_code}`` → ``plan``, ``charge``); a query parameter
with a NUL (in its name or value) is 422 ``value_is_invalid`` on that parameter, whatever it filters.
Both after authentication, as any answer about the organization's objects.

A plain ASGI middleware: the check of a request without NUL is two substring tests, and the requests
that have one never reach the endpoints (nor a database query).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from billow.errors import BillowError, Errors, NotFound, Unauthorized, ValidationFailed

#: The resource a path parameter identifies, by the path segment before it, when it is not that
#: segment in the singular; ``None``: the parameter is no lookup (a plan metadata key: an unknown key
#: is not an error), the endpoint answers.
_IRREGULAR: dict[str, str | None] = {"taxes": "tax", "filters": "charge_filter", "metadata": None}

_PARAM = re.compile(r"{([^}:]+)(:[^}]*)?}")


def resource_of(path: str, param: str) -> str | None:
    """The resource that ``param`` identifies in the route ``path`` (``/customers/{external_id}`` →
    ``customer``)."""
    segments = path.strip("/").split("/")
    for index, segment in enumerate(segments):
        match = _PARAM.fullmatch(segment)
        if match and match.group(1) == param:
            previous = segments[index - 1] if index else ""
            if previous in _IRREGULAR:
                return _IRREGULAR[previous]
            return previous[:-1] if previous.endswith("s") else previous
    return None


class _Route:
    __slots__ = ("methods", "path", "regex")

    def __init__(self, path: str, methods: Iterable[str]) -> None:
        self.path = path
        self.methods = frozenset(methods)
        self.regex, _, _ = compile_path(path)


class ParamGuardMiddleware:
    """Answers the requests whose path or query parameters carry a NUL character (see the module)."""

    def __init__(self, app: ASGIApp, routes: Iterable[tuple[str, Iterable[str]]]) -> None:
        self.app = app
        self.routes = [_Route(path, methods) for path, methods in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"")
            if "\x00" in scope["path"] or b"%00" in query or b"\x00" in query:
                response = await self._refusal(scope)
                if response is not None:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    def _route(self, scope: Scope) -> tuple[_Route, dict[str, str]] | None:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        method = scope["method"]
        for route in self.routes:
            match = route.regex.match(path)
            if match and (method in route.methods or (method == "HEAD" and "GET" in route.methods)):
                return route, match.groupdict()
        return None

    async def _refusal(self, scope: Scope) -> JSONResponse | None:
        found = self._route(scope)
        if found is None:
            return None  # no such route: the router answers (404 or 405), no query runs
        route, params = found
        error: BillowError | None = None
        for name, value in params.items():
            if "\x00" in value:
                resource = resource_of(route.path, name)
                if resource is not None:
                    error = NotFound(resource)
                    break
        if error is None:
            errors = Errors()
            for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True):
                if "\x00" in name or "\x00" in value:
                    errors.add(name.replace("\x00", "") or "base", "value_is_invalid")
            if errors:
                error = ValidationFailed(errors.details)
        if error is None:
            return None
        try:
            await run_in_threadpool(_authenticate, scope)
        except BillowError as exc:
            error = exc
        return JSONResponse(error.body(), status_code=error.status)


def _authenticate(scope: Scope) -> None:
    """401 unless the request carries a valid API key: the authentication middleware's finding
    (:mod:`billow.transport`, which runs first), else, for the routes that authenticate themselves (event
    ingestion), the same key lookup."""
    from billow.auth import ORGANIZATION, bearer_key_of
    from billow.organizations.service import organization_service

    if scope.get("state", {}).get(ORGANIZATION) is not None:
        return
    key = bearer_key_of(scope["headers"])
    if key is None:
        raise Unauthorized()
    with scope["app"].state.sessionmaker() as session:
        if organization_service.authenticate(session, key) is None:
            raise Unauthorized()
