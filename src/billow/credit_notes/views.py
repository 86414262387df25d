"""Rendering credit notes in Lago's shape (``CreditNoteOut``; ``CreditNoteListedOut`` in lists, with the
customer): the API's answers and the ``credit_note.created`` webhook (:mod:`billow.webhooks.payloads`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.credit_notes.repository import CreditNoteGraph, credit_note_repository
from billow.credit_notes.schemas import CreditNoteListedOut, CreditNoteOut, credit_note_out
from billow.customers.repository import customer_repository
from billow.customers.schemas import customer_out
from billow.invoices.repository import invoice_repository
from billow.invoices.schemas import fee_out
from billow.invoices.views import document_links
from billow.models.credit_notes import CreditNote
from billow.models.organizations import Organization
from billow.webhooks.payloads import renderer


def render_credit_notes(
    session: Session, notes: Sequence[CreditNote]
) -> tuple[list[CreditNoteOut], CreditNoteGraph]:
    graph = credit_note_repository.load(session, notes)
    context = invoice_repository.fee_context(session, list(graph.fees.values()))
    links = document_links(session, notes[0].organization_id, [note.id for note in notes]) if notes else {}
    outs = []
    for note in notes:
        out = credit_note_out(
            note,
            graph.invoices[note.invoice_id],
            [(item, fee_out(graph.fees[item.fee_id], context)) for item in graph.items[note.id]],
            graph.applied_taxes[note.id],
        )
        found = links.get(note.id)
        if found:  # its stored documents (billow.documents)
            out.file_url, out.xml_url = found.get("pdf"), found.get("xml")
        outs.append(out)
    return outs, graph


def render_listed_credit_notes(
    session: Session, organization: Organization, notes: Sequence[CreditNote]
) -> list[CreditNoteListedOut]:
    rendered, graph = render_credit_notes(session, notes)
    customer_ids = list(graph.customers)
    metadata = customer_repository.metadata_by_customer(session, customer_ids)
    taxes = customer_repository.taxes_by_customer(session, customer_ids)
    return [
        CreditNoteListedOut(
            **dict(out),
            customer=customer_out(
                graph.customers[note.customer_id],
                organization,
                metadata[note.customer_id],
                taxes[note.customer_id],
            ),
        )
        for out, note in zip(rendered, notes, strict=True)
    ]


@renderer("credit_note")
def credit_note_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    notes = list(
        session.scalars(
            select(CreditNote).where(
                CreditNote.organization_id == organization.id,
                CreditNote.id.in_(set(ids)),
                CreditNote.status == "finalized",
            )
        )
    )
    rendered, _ = render_credit_notes(session, notes)
    return {note.id: out.model_dump(mode="json") for note, out in zip(notes, rendered, strict=True)}
