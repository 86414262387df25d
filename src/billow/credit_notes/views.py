"""Rendering credit notes in Lago's shape (``CreditNoteOut``), shared by :mod:`billow.credit_notes.endpoints`
and the documents rendered from them (:mod:`billow.documents`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from billow.credit_notes.repository import CreditNoteGraph, credit_note_repository
from billow.credit_notes.schemas import CreditNoteOut, credit_note_out
from billow.invoices.repository import invoice_repository
from billow.invoices.schemas import fee_out
from billow.invoices.views import document_links
from billow.models.credit_notes import CreditNote


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
        if found:
            out.file_url, out.xml_url = found.get("pdf"), found.get("xml")
        outs.append(out)
    return outs, graph
