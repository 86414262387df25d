"""One catalog area's pages (list, new, create, show/edit, update, delete) from a description.

An :class:`Area` names its permission area (``taxes`` -> ``taxes:view``, ``taxes:create``...), its form
fields, how a form becomes the API's ``Input`` and how a row is shown; the routes call the area's
service, exactly as the API endpoints do. Objects are found by code (by ``lago_id`` for webhook
endpoints), in the viewer's organization only: another organization's is a 404 page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from billow.dashboard.catalog_forms import Form, invalid, not_found, organization_of, redirect, segment
from billow.db import DbSession
from billow.errors import BillowError, NotFound
from billow.models.organizations import Organization
from billow.web.auth import Viewer, require
from billow.web.templating import render

Field = dict[str, Any]


@dataclass
class Area:
    path: str  # "/app/taxes"
    permission: str  # "taxes"
    title: str  # "Taxes"
    singular: str  # "tax"
    columns: list[dict[str, Any]]
    #: (session, organization) -> the objects to list
    objects: Callable[[Session, Organization], list[Any]]
    #: (session, object) -> its row's cells (first one links to it)
    cells: Callable[[Session, Any], list[str]]
    key: Callable[[Any], str]  # the object's code (or lago_id)
    #: (session, organization) -> the form's fields
    fields: Callable[[Session, Organization], list[Field]]
    #: (session, object) -> the form's values
    values: Callable[[Session, Any], dict[str, Any]]
    #: the form -> its values as typed (re-shown on an error)
    typed: Callable[[FormData], dict[str, Any]]
    #: the typed values -> the service's Input (raises pydantic's ValidationError)
    build: Callable[[dict[str, Any]], Any]
    get: Callable[[Session, Organization, str], Any]
    create: Callable[[Session, Organization, Any], Any]
    update: Callable[[Session, Organization, str, Any], Any]
    delete: Callable[[Session, Organization, str], Any]
    update_permission: str = "update"
    delete_permission: str = "delete"
    create_permission: str = "create"
    view_permission: str = "view"
    #: object -> links shown on its page ((href, text)), e.g. a webhook endpoint's deliveries
    links: Callable[[Any], list[tuple[str, str]]] | None = None

    def can(self, viewer: Viewer, action: str) -> bool:
        return viewer.can(f"{self.permission}:{action}")


def mount(router: APIRouter, area: Area) -> None:
    view = Depends(require(f"{area.permission}:{area.view_permission}"))
    create = Depends(require(f"{area.permission}:{area.create_permission}"))
    update = Depends(require(f"{area.permission}:{area.update_permission}"))
    delete = Depends(require(f"{area.permission}:{area.delete_permission}"))

    def form_page(
        request: Request,
        session: Session,
        organization: Organization,
        viewer: Viewer,
        *,
        key: str | None,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        creating = key is None
        return {
            "heading": f"New {area.singular}" if creating else f"{area.singular.capitalize()} {key}",
            "singular": area.singular,
            "back_href": area.path,
            "back_label": area.title.lower(),
            "action": area.path if creating else f"{area.path}/{segment(key or '')}",
            "delete_action": None if creating else f"{area.path}/{segment(key or '')}/delete",
            "can_save": area.can(viewer, area.create_permission if creating else area.update_permission),
            "can_delete": area.can(viewer, area.delete_permission),
            "fields": area.fields(session, organization),
            "values": values,
            "errors": {},
            "links": [],
        }

    @router.get(area.path, name=f"{area.permission}_index")
    def index(request: Request, session: DbSession, viewer: Viewer = view) -> Response:
        organization = organization_of(session, viewer)
        rows = [
            {"cells": area.cells(session, obj), "href": f"{area.path}/{segment(area.key(obj))}"}
            for obj in area.objects(session, organization)
        ]
        context = {
            "title": area.title,
            "singular": area.singular,
            "columns": area.columns,
            "rows": rows,
            "can_create": area.can(viewer, area.create_permission),
            "new_href": f"{area.path}/new",
        }
        return render(request, "catalog/list.html", context)

    @router.get(f"{area.path}/new", name=f"{area.permission}_new")
    def new(request: Request, session: DbSession, viewer: Viewer = create) -> Response:
        organization = organization_of(session, viewer)
        context = form_page(request, session, organization, viewer, key=None, values={})
        return render(request, "catalog/form.html", context)

    @router.post(area.path, name=f"{area.permission}_create")
    def create_(request: Request, session: DbSession, form: Form, viewer: Viewer = create) -> Response:
        organization = organization_of(session, viewer)
        values = area.typed(form)
        try:
            obj = area.create(session, organization, area.build(values))
        except (BillowError, ValidationError) as exc:
            context = form_page(request, session, organization, viewer, key=None, values=values)
            return invalid(session, request, "catalog/form.html", context, exc)
        return redirect(f"{area.path}/{segment(area.key(obj))}", f"{area.singular.capitalize()} created.")

    @router.get(f"{area.path}/{{key}}", name=f"{area.permission}_show")
    def show(key: str, request: Request, session: DbSession, viewer: Viewer = view) -> Response:
        organization = organization_of(session, viewer)
        try:
            obj = area.get(session, organization, key)
        except NotFound:
            return not_found(request, area.singular)
        values = area.values(session, obj)
        context = form_page(request, session, organization, viewer, key=area.key(obj), values=values)
        context["links"] = area.links(obj) if area.links else []
        return render(request, "catalog/form.html", context)

    @router.post(f"{area.path}/{{key}}", name=f"{area.permission}_update")
    def update_(
        key: str, request: Request, session: DbSession, form: Form, viewer: Viewer = update
    ) -> Response:
        organization = organization_of(session, viewer)
        try:
            area.get(session, organization, key)
        except NotFound:
            return not_found(request, area.singular)
        values = area.typed(form)
        try:
            obj = area.update(session, organization, key, area.build(values))
        except (BillowError, ValidationError) as exc:
            context = form_page(request, session, organization, viewer, key=key, values=values)
            return invalid(session, request, "catalog/form.html", context, exc)
        return redirect(f"{area.path}/{segment(area.key(obj))}", f"{area.singular.capitalize()} saved.")

    @router.post(f"{area.path}/{{key}}/delete", name=f"{area.permission}_delete")
    def delete_(key: str, request: Request, session: DbSession, viewer: Viewer = delete) -> Response:
        organization = organization_of(session, viewer)
        try:
            area.delete(session, organization, key)
        except NotFound:
            return not_found(request, area.singular)
        except BillowError as exc:  # e.g. a metric still charged by a plan: 405 billable_metric_in_use
            obj = area.get(session, organization, key)
            values = area.values(session, obj)
            context = form_page(request, session, organization, viewer, key=key, values=values)
            return invalid(session, request, "catalog/form.html", context, exc)
        return redirect(area.path, f"{area.singular.capitalize()} deleted.")
