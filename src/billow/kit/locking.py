"""Row locks for the length of a transaction, on both databases.

PostgreSQL: ``SELECT id ... FOR UPDATE`` (rows locked in id order, so two transactions locking
overlapping sets never deadlock). SQLite has no row locks: a no-op ``UPDATE`` of the rows
(``updated_at = updated_at``) takes the database's write lock now, so concurrent writers queue there
rather than fail later. Either way the lock is held until the transaction ends.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

T = TypeVar("T")


def lock_rows(session: Session, model: Any, ids: Collection[Any]) -> None:
    """Lock the rows of ``model`` (a mapped class with ``id`` and ``updated_at`` columns) whose id is in
    ``ids``."""
    if not ids:
        return
    wanted = sorted(ids, key=str)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            select(model.id).where(model.id.in_(wanted)).order_by(model.id).with_for_update()
        ).all()
        return
    table = model.__table__
    session.execute(update(table).where(table.c.id.in_(wanted)).values(updated_at=table.c.updated_at))


def lock_row(session: Session, model: type[T], id: Any) -> T:
    """Lock one row of ``model`` and return it as it is under the lock (the session's object for that row,
    its attributes reloaded). PostgreSQL: one ``SELECT ... FOR UPDATE``; SQLite: the no-op ``UPDATE``,
    then the ``SELECT``. Raises :class:`sqlalchemy.exc.NoResultFound` when there is no such row."""
    mapped: Any = model
    query = select(model).where(mapped.id == id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        return session.execute(query.with_for_update()).scalar_one()
    table = mapped.__table__
    session.execute(update(table).where(table.c.id == id).values(updated_at=table.c.updated_at))
    return session.execute(query).scalar_one()
