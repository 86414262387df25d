"""Lago's page/per_page pagination and its ``meta`` block."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from billow.kit.limits import BIGINT_MAX

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000


class PageMeta(BaseModel):
    current_page: int
    next_page: int | None
    prev_page: int | None
    total_pages: int
    total_count: int


@dataclass(frozen=True)
class PageParams:
    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def past_end(self, total_count: int) -> bool:
        """Whether the page starts after the last row: it is empty, and no query is needed (an OFFSET
        this large may not even fit the database's integers)."""
        return self.offset >= total_count

    def meta(self, total_count: int) -> PageMeta:
        if total_count == 0:
            return PageMeta(current_page=0, next_page=None, prev_page=None, total_pages=0, total_count=0)
        total_pages = math.ceil(total_count / self.per_page)
        return PageMeta(
            current_page=self.page,
            next_page=self.page + 1 if self.page < total_pages else None,
            prev_page=self.page - 1 if self.page > 1 else None,
            total_pages=total_pages,
            total_count=total_count,
        )


def page_params(
    page: Annotated[int, Query(ge=1, le=BIGINT_MAX)] = 1,
    per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = DEFAULT_PER_PAGE,
) -> PageParams:
    return PageParams(page=page, per_page=per_page)


Pagination = Annotated[PageParams, Depends(page_params)]


def paginate(session: Session, stmt: Select[Any], params: PageParams) -> tuple[list[Any], PageMeta]:
    """Run ``stmt`` for one page. ``stmt`` must carry a deterministic ORDER BY."""
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    if params.past_end(total):
        return [], params.meta(total)  # as Lago: a page past the end is empty
    rows = list(session.scalars(stmt.limit(params.per_page).offset(params.offset)))
    return rows, params.meta(total)
