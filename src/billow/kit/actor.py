"""Who is making the changes of a database session: an API key, a dashboard member, or Billow itself.

The actor rides on the session (``session.info``), set once where the request is authenticated
(:mod:`billow.transport` for an API key, the dashboard's session check for a member). Whatever records
changes (the audit log) reads it from the session that makes them; a session nobody marked (a task, a
scan, the CLI) is :data:`SYSTEM`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

#: Lago's ``activity_source``: ``api`` (an API key), ``front`` (the dashboard), ``system`` (Billow).
Source = Literal["api", "front", "system"]

_KEY = "billow.actor"


@dataclass(frozen=True)
class Actor:
    source: Source
    #: The API key of an ``api`` actor.
    api_key_id: uuid.UUID | None = None
    #: The member (and their e-mail) of a ``front`` actor.
    member_id: uuid.UUID | None = None
    email: str | None = None


SYSTEM = Actor(source="system")


def set_actor(session: Session, actor: Actor) -> None:
    session.info[_KEY] = actor


def actor_of(session: Session) -> Actor:
    """The actor of ``session``'s changes; :data:`SYSTEM` when none was set."""
    actor = session.info.get(_KEY)
    return actor if isinstance(actor, Actor) else SYSTEM
