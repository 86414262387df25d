"""Lago ids (``lago_id``): Billow's UUID primary keys as the API names them. A path or body value that
is not a UUID names no object: it is read as absent (:func:`parse_uuid`) or answered 404
(:func:`parse_lago_id`), never 422."""

from __future__ import annotations

import uuid

from billow.errors import NotFound


def parse_uuid(value: str | None) -> uuid.UUID | None:
    """``value`` as a UUID (any form :class:`uuid.UUID` reads); ``None`` when empty or not a UUID."""
    if not value:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def parse_lago_id(value: str | None, resource: str) -> uuid.UUID:
    """The ``lago_id`` of a ``resource`` (``"invoice"``) as a UUID; :class:`billow.errors.NotFound`
    (404 ``<resource>_not_found``) when it is not one."""
    found = parse_uuid(value)
    if found is None:
        raise NotFound(resource)
    return found
