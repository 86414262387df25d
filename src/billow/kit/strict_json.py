"""One JSON rule for every request body: ``NaN``, ``Infinity`` and ``-Infinity`` are not JSON.

Python's ``json`` accepts those tokens (RFC 8259 does not, nor does Lago's parser). FastAPI parses the
bodies it validates with ``Request.json()``; the routes of every router are :class:`StrictJSONRoute`
(``APIRouter(..., route_class=StrictJSONRoute)``), whose requests parse their body with :func:`loads`,
so that a ``NaN`` is malformed JSON exactly where a syntax error is (FastAPI's ``json_invalid``
validation error, which the app answers 400 "malformed JSON body"). The event endpoints parse their
bodies by hand with the same rule (``billow.events.schemas.load_json``). :func:`check` refuses to start
an app with a route that escapes the rule.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(body: bytes | str) -> Any:
    """``json.loads`` that refuses ``NaN``/``Infinity``/``-Infinity`` with a ``json.JSONDecodeError``."""
    try:
        return json.loads(body, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # a constant: report it as the decoder reports malformed JSON
        doc = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        raise json.JSONDecodeError(str(exc), doc, 0) from exc


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """An ``APIRoute`` whose handler parses a JSON body with :func:`loads`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:  # no body parsed by FastAPI (the event endpoints read theirs)
            return handler

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive, request._send))

        return strict_handler


def _routes(routes: Sequence[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, including those of included routers (FastAPI >= 0.160 nests them)."""
    for route in routes:
        included = getattr(route, "original_router", None)  # fastapi.routing._IncludedRouter
        if included is not None:
            yield from _routes(included.routes)
        else:
            yield route


def check(app: FastAPI) -> None:
    """Refuse an app with a route that parses a JSON body and is not a :class:`StrictJSONRoute`."""
    loose = [
        route.path
        for route in _routes(app.router.routes)
        if isinstance(route, APIRoute)
        and route.body_field is not None
        and not isinstance(route, StrictJSONRoute)
    ]
    if loose:
        raise RuntimeError(f"routes without route_class=StrictJSONRoute: {loose}")
