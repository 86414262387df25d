"""Rendering wallets and wallet transactions in Lago's shape (``WalletOut``, ``WalletTransactionOut``): the
API's answers and the ``wallet.*`` / ``wallet_transaction.*`` webhooks (:mod:`billow.webhooks.payloads`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.organizations import Organization
from billow.models.wallets import Wallet, WalletTransaction
from billow.wallets.repository import wallet_repository
from billow.wallets.schemas import WalletOut, transaction_out, wallet_out
from billow.webhooks.payloads import renderer


def render_wallets(session: Session, wallets: Sequence[Wallet]) -> list[WalletOut]:
    customers = wallet_repository.customers(session, wallets)
    rules = wallet_repository.rules(session, wallets)
    return [wallet_out(w, customers[w.customer_id], rules[w.id]) for w in wallets]


@renderer("wallet")
def wallet_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    query = select(Wallet).where(Wallet.organization_id == organization.id, Wallet.id.in_(set(ids)))
    wallets = list(session.scalars(query))
    rendered = render_wallets(session, wallets)
    return {w.id: out.model_dump(mode="json") for w, out in zip(wallets, rendered, strict=True)}


@renderer("wallet_transaction")
def wallet_transaction_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    transactions = session.scalars(
        select(WalletTransaction).where(
            WalletTransaction.organization_id == organization.id, WalletTransaction.id.in_(set(ids))
        )
    )
    return {t.id: transaction_out(t).model_dump(mode="json") for t in transactions}
