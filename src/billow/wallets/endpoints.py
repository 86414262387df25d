"""Wallets and wallet transactions (Lago's ``wallets_controller``, ``customers/wallets_controller``, their
``metadata`` controllers and ``wallet_transactions_controller``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.errors import NotFound, ValidationFailed
from billow.kit.ids import parse_lago_id
from billow.kit.pagination import PageMeta, Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.organizations import Organization
from billow.models.wallets import (
    SettlementStatus,
    TransactionStatus,
    TransactionType,
    Wallet,
    WalletTransaction,
)
from billow.wallets.repository import wallet_repository
from billow.wallets.schemas import (
    ConsumptionList,
    FundingList,
    MetadataEnvelope,
    MetadataRequest,
    WalletEnvelope,
    WalletList,
    WalletRequest,
    WalletTransactionCollection,
    WalletTransactionEnvelope,
    WalletTransactionList,
    WalletTransactionRequest,
    transaction_out,
)
from billow.wallets.service import wallet_service
from billow.wallets.views import render_wallets

router = APIRouter(tags=["wallets"], route_class=StrictJSONRoute)

Text = Annotated[str | None, Query(max_length=255)]


def _envelope(session: Session, wallet: Wallet) -> WalletEnvelope:
    return WalletEnvelope(wallet=render_wallets(session, [wallet])[0])


def _list(session: Session, wallets: list[Wallet], meta: PageMeta) -> WalletList:
    return WalletList(wallets=render_wallets(session, wallets), meta=meta)


# ------------------------------------------------------------------------------------------ wallets


@router.post("/wallets", response_model=WalletEnvelope)
def create(body: WalletRequest, session: DbSession, organization: CurrentOrganization) -> WalletEnvelope:
    return _envelope(session, wallet_service.create(session, organization, body.wallet))


@router.get("/wallets", response_model=WalletList)
def index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    external_customer_id: Text = None,
    currency: Text = None,
) -> WalletList:
    customer_id = None
    if external_customer_id is not None:
        customer_id = wallet_service.customer(session, organization, external_customer_id).id
    wallets, meta = paginate(
        session,
        wallet_repository.list_stmt(organization.id, customer_id=customer_id, currency=currency),
        pages,
    )
    return _list(session, wallets, meta)


@router.get("/wallets/{lago_id}", response_model=WalletEnvelope)
def show(lago_id: str, session: DbSession, organization: CurrentOrganization) -> WalletEnvelope:
    return _envelope(session, wallet_service.get(session, organization, lago_id))


@router.put("/wallets/{lago_id}", response_model=WalletEnvelope)
def update(
    lago_id: str, body: WalletRequest, session: DbSession, organization: CurrentOrganization
) -> WalletEnvelope:
    wallet = wallet_service.get(session, organization, lago_id)
    return _envelope(session, wallet_service.update(session, organization, wallet, body.wallet))


@router.delete("/wallets/{lago_id}", response_model=WalletEnvelope)
def terminate(lago_id: str, session: DbSession, organization: CurrentOrganization) -> WalletEnvelope:
    wallet = wallet_service.get(session, organization, lago_id)
    return _envelope(session, wallet_service.terminate(session, wallet))


@router.post("/wallets/{lago_id}/metadata", response_model=MetadataEnvelope)
def replace_metadata(
    lago_id: str, body: MetadataRequest, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    wallet = wallet_service.get(session, organization, lago_id)
    return MetadataEnvelope(metadata=wallet_service.set_metadata(session, wallet, body.metadata))


@router.patch("/wallets/{lago_id}/metadata", response_model=MetadataEnvelope)
def merge_metadata(
    lago_id: str, body: MetadataRequest, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    wallet = wallet_service.get(session, organization, lago_id)
    return MetadataEnvelope(metadata=wallet_service.set_metadata(session, wallet, body.metadata, merge=True))


@router.delete("/wallets/{lago_id}/metadata", response_model=MetadataEnvelope)
def delete_metadata(lago_id: str, session: DbSession, organization: CurrentOrganization) -> MetadataEnvelope:
    wallet = wallet_service.get(session, organization, lago_id)
    return MetadataEnvelope(metadata=wallet_service.set_metadata(session, wallet, None))


@router.delete("/wallets/{lago_id}/metadata/{key}", response_model=MetadataEnvelope)
def delete_metadata_key(
    lago_id: str, key: str, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    wallet = wallet_service.get(session, organization, lago_id)
    return MetadataEnvelope(metadata=wallet_service.delete_metadata_key(session, wallet, key))


# ------------------------------------------------------------------------------------------ customer's


@router.post("/customers/{external_customer_id}/wallets", response_model=WalletEnvelope)
def customer_create(
    external_customer_id: str, body: WalletRequest, session: DbSession, organization: CurrentOrganization
) -> WalletEnvelope:
    customer = wallet_service.customer(session, organization, external_customer_id)
    return _envelope(session, wallet_service.create(session, organization, body.wallet, customer=customer))


@router.get("/customers/{external_customer_id}/wallets", response_model=WalletList)
def customer_index(
    external_customer_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    currency: Text = None,
) -> WalletList:
    return index(session, organization, pages, external_customer_id=external_customer_id, currency=currency)


@router.get("/customers/{external_customer_id}/wallets/{code}", response_model=WalletEnvelope)
def customer_show(
    external_customer_id: str, code: str, session: DbSession, organization: CurrentOrganization
) -> WalletEnvelope:
    return _envelope(session, wallet_service.by_code(session, organization, external_customer_id, code))


@router.put("/customers/{external_customer_id}/wallets/{code}", response_model=WalletEnvelope)
def customer_update(
    external_customer_id: str,
    code: str,
    body: WalletRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> WalletEnvelope:
    wallet = wallet_service.by_code(session, organization, external_customer_id, code)
    return _envelope(session, wallet_service.update(session, organization, wallet, body.wallet))


@router.delete("/customers/{external_customer_id}/wallets/{code}", response_model=WalletEnvelope)
def customer_terminate(
    external_customer_id: str, code: str, session: DbSession, organization: CurrentOrganization
) -> WalletEnvelope:
    wallet = wallet_service.by_code(session, organization, external_customer_id, code)
    return _envelope(session, wallet_service.terminate(session, wallet))


@router.post("/customers/{external_customer_id}/wallets/{code}/metadata", response_model=MetadataEnvelope)
def customer_replace_metadata(
    external_customer_id: str,
    code: str,
    body: MetadataRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> MetadataEnvelope:
    wallet = wallet_service.by_code(session, organization, external_customer_id, code)
    return MetadataEnvelope(metadata=wallet_service.set_metadata(session, wallet, body.metadata))


@router.patch("/customers/{external_customer_id}/wallets/{code}/metadata", response_model=MetadataEnvelope)
def customer_merge_metadata(
    external_customer_id: str,
    code: str,
    body: MetadataRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> MetadataEnvelope:
    wallet = wallet_service.by_code(session, organization, external_customer_id, code)
    return MetadataEnvelope(metadata=wallet_service.set_metadata(session, wallet, body.metadata, merge=True))


@router.delete("/customers/{external_customer_id}/wallets/{code}/metadata", response_model=MetadataEnvelope)
def customer_delete_metadata(
    external_customer_id: str, code: str, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    wallet = wallet_service.by_code(session, organization, external_customer_id, code)
    return MetadataEnvelope(metadata=wallet_service.set_metadata(session, wallet, None))


@router.delete(
    "/customers/{external_customer_id}/wallets/{code}/metadata/{key}", response_model=MetadataEnvelope
)
def customer_delete_metadata_key(
    external_customer_id: str, code: str, key: str, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    wallet = wallet_service.by_code(session, organization, external_customer_id, code)
    return MetadataEnvelope(metadata=wallet_service.delete_metadata_key(session, wallet, key))


# ------------------------------------------------------------------------------------------ transactions


@router.post("/wallet_transactions", response_model=WalletTransactionCollection)
def create_transactions(
    body: WalletTransactionRequest, session: DbSession, organization: CurrentOrganization
) -> WalletTransactionCollection:
    written = wallet_service.top_up(session, organization, body.wallet_transaction)
    return WalletTransactionCollection(wallet_transactions=[transaction_out(t) for t in written])


@router.get("/wallets/{lago_id}/wallet_transactions", response_model=WalletTransactionList)
def transactions_index(
    lago_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    status: Text = None,
    transaction_type: Text = None,
    transaction_status: Text = None,
) -> WalletTransactionList:
    """Lago ignores a filter whose value is not one of its kind."""
    wallet = wallet_service.get(session, organization, lago_id)
    stmt = wallet_repository.transactions_stmt(
        organization.id,
        wallet.id,
        status=status if status in tuple(SettlementStatus) else None,
        transaction_type=transaction_type if transaction_type in tuple(TransactionType) else None,
        transaction_status=transaction_status if transaction_status in tuple(TransactionStatus) else None,
    )
    transactions, meta = paginate(session, stmt, pages)
    return WalletTransactionList(wallet_transactions=[transaction_out(t) for t in transactions], meta=meta)


def _transaction(session: Session, organization: Organization, lago_id: str) -> WalletTransaction:
    transaction_id = parse_lago_id(lago_id, "wallet_transaction")
    transaction = wallet_repository.transaction(session, organization.id, transaction_id)
    if transaction is None:
        raise NotFound("wallet_transaction")
    return transaction


@router.get("/wallet_transactions/{lago_id}", response_model=WalletTransactionEnvelope)
def transaction_show(
    lago_id: str, session: DbSession, organization: CurrentOrganization
) -> WalletTransactionEnvelope:
    return WalletTransactionEnvelope(
        wallet_transaction=transaction_out(_transaction(session, organization, lago_id))
    )


@router.get("/wallet_transactions/{lago_id}/consumptions", response_model=ConsumptionList)
def consumptions(lago_id: str, session: DbSession, organization: CurrentOrganization) -> ConsumptionList:
    """Consumptions are tracked only on traceable wallets, which Billow does not have: 422 as Lago."""
    _transaction(session, organization, lago_id)
    raise ValidationFailed.one("wallet", "not_traceable")


@router.get("/wallet_transactions/{lago_id}/fundings", response_model=FundingList)
def fundings(lago_id: str, session: DbSession, organization: CurrentOrganization) -> FundingList:
    _transaction(session, organization, lago_id)
    raise ValidationFailed.one("wallet", "not_traceable")
