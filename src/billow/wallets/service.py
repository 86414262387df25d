"""Wallets: create, update, terminate, find, metadata (Lago's ``Wallets::CreateService``,
``UpdateService``, ``TerminateService``, ``WalletActions`` and ``WalletMetadataActions``; reference §6).

Creation validates, in Lago's order and answering every error at once: the customer (``POST /wallets``:
422 ``customer: customer_not_found``; the customer-scoped route answers 404), the credits sent
(``invalid_paid_credits``/``invalid_granted_credits`` + ``invalid_amount``), ``expiration_at`` (a future
instant, else ``invalid_date``), the recurring rules, the transaction metadata, ``applies_to``
(``invalid_limitations``), at most :data:`MAX_ACTIVE_WALLETS` active wallets (``wallet_limit_reached``);
then the wallet's own fields: ``rate_amount`` a positive decimal (kept with 5 decimals), ``currency``
(the request's, else the customer's; a customer without one adopts it; the wallet's may differ from the
customer's), ``priority`` in 1..50, the paid top-up bounds positive and ``max >= min``, ``code`` unique
among the customer's active wallets (``value_already_exist``; without one it is made from the name, or
``default``); then the initial credits (``amount_rounds_to_zero``, the paid top-up bounds unless
``ignore_paid_top_up_limits_on_creation``). The initial credits are then written as a top-up
(:mod:`billow.wallets.transactions`) in the same transaction.

Webhooks (:mod:`billow.webhooks.outbox`): ``wallet.created``, ``wallet.updated`` (update and metadata
changes; balance changes in :mod:`billow.wallets.ledger`), ``wallet.terminated`` (the API, expiration, a
deleted customer).

Updating or terminating a terminated wallet: update is 422 ``wallet_id: wallet_is_terminated``;
termination answers the wallet unchanged (as Lago).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, localcontext

from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.db import utcnow
from billow.errors import Errors, NotFound, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.ids import parse_uuid
from billow.kit.limits import MAX_AMOUNT_CENTS, MAX_PRICE, parse_decimal_text
from billow.kit.locking import lock_row
from billow.kit.money import CONTEXT
from billow.kit.time import parse_instant_or_none
from billow.models.customers import Customer
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.models.wallets import LOWEST_PRIORITY, Wallet, WalletStatus, WalletTransaction
from billow.wallets import ledger, recurring
from billow.wallets import rules as rule_store
from billow.wallets.amounts import credit_value, floor_credits
from billow.wallets.consumption import WalletShare
from billow.wallets.repository import wallet_repository as repository
from billow.wallets.schemas import AppliesToInput, WalletInput, WalletTransactionInput
from billow.wallets.transactions import (
    TopUp,
    check_paid_limits,
    transaction_service,
    validate_transaction_metadata,
)
from billow.webhooks.outbox import emit

#: Lago's default ``maximum_wallets_per_customer``.
MAX_ACTIVE_WALLETS = 6
#: Fee types a wallet may be limited to (Lago's ``Fee.fee_types``).
FEE_TYPES = ("charge", "add_on", "subscription", "credit", "commitment", "fixed_charge")
METADATA_MAX_KEY_LENGTH = 100


def parse_rate(text: str | None) -> Decimal | None:
    """A rate as stored: a decimal string rounded half-up to 5 decimals; None when not a number."""
    if text is None:
        return None
    number = parse_decimal_text(text)
    if number is None:
        return None
    if not 0 < number <= MAX_PRICE:
        return number  # refused by the caller
    with localcontext(CONTEXT):
        return number.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)


def parse_expiration(text: str | None, now: datetime, errors: Errors) -> datetime | None:
    if text is None:
        return None
    try:
        instant = parse_instant_or_none(text)
    except OverflowError:
        instant = None
    if instant is None or instant <= now:
        errors.add("expiration_at", "invalid_date")
        return None
    return instant


def code_from_name(name: str | None) -> str:
    """Lago's ``parameterize(separator: "_")`` of the name, else ``default``."""
    slug = re.sub(r"[^a-z0-9]+", "_", (name or "").lower()).strip("_")
    return slug or "default"


class WalletService:
    # ------------------------------------------------------------------------------------ finding

    def get(self, session: Session, organization: Organization, lago_id: str) -> Wallet:
        wallet_id = parse_uuid(lago_id)
        wallet = repository.get(session, organization.id, wallet_id) if wallet_id else None
        if wallet is None:
            raise NotFound("wallet")
        return wallet

    def customer(self, session: Session, organization: Organization, external_id: str) -> Customer:
        customer = customer_repository.by_external_id(session, organization.id, external_id)
        if customer is None:
            raise NotFound("customer")
        return customer

    def by_code(self, session: Session, organization: Organization, external_id: str, code: str) -> Wallet:
        customer = self.customer(session, organization, external_id)
        wallet = repository.by_code(session, organization.id, customer.id, code)
        if wallet is None:
            raise NotFound("wallet")
        return wallet

    # ------------------------------------------------------------------------------------ create

    def create(
        self,
        session: Session,
        organization: Organization,
        data: WalletInput,
        *,
        customer: Customer | None = None,
    ) -> Wallet:
        now = utcnow()
        errors = Errors()
        if customer is None and data.external_customer_id is not None:
            customer = customer_repository.by_external_id(session, organization.id, data.external_customer_id)
        if customer is None:
            errors.add("customer", "customer_not_found")
        else:  # one creation at a time per customer: the limit and code checks see the previous one
            customer = lock_row(session, Customer, customer.id)
        credits = transaction_service.validate_credits(
            None, {"paid_credits": data.paid_credits, "granted_credits": data.granted_credits}, errors
        )
        expiration_at = parse_expiration(data.expiration_at, now, errors)
        rule_store.validate_rules(data.recurring_transaction_rules, errors, now)
        validate_transaction_metadata(data.transaction_metadata, errors, max_keys=5)
        if data.applies_to is not None and self._limitation_errors(session, organization, data.applies_to):
            errors.add("applies_to", "invalid_limitations")
        if customer is not None and repository.active_count(session, customer.id) >= MAX_ACTIVE_WALLETS:
            errors.add("customer", "wallet_limit_reached")
        errors.raise_if_any()
        assert customer is not None

        rate = parse_rate(data.rate_amount)
        currency = data.currency or customer.currency
        code = data.code or code_from_name(data.name)
        if not data.code and repository.active_code_taken(session, customer.id, code):
            code = f"{code}_{int(now.timestamp())}"
        if rate is None:
            errors.add(
                "rate_amount", "value_is_invalid" if data.rate_amount is not None else "value_is_mandatory"
            )
        elif not 0 < rate <= MAX_PRICE:
            errors.add("rate_amount", "value_is_out_of_range")
        if not is_currency(currency):
            errors.add("currency", "value_is_invalid")
        self._validate_fields(data, errors)
        if data.code and repository.active_code_taken(session, customer.id, data.code):
            errors.add("code", "value_already_exist")
        errors.raise_if_any()
        assert rate is not None and currency is not None

        wallet = Wallet(
            id=uuid.uuid4(),
            organization_id=organization.id,
            customer_id=customer.id,
            status=WalletStatus.ACTIVE,
            name=data.name,
            code=code,
            currency=currency,
            rate_amount=rate,
            priority=data.priority if data.priority is not None else LOWEST_PRIORITY,
            expiration_at=expiration_at,
            invoice_requires_successful_payment=bool(data.invoice_requires_successful_payment),
            paid_top_up_min_amount_cents=data.paid_top_up_min_amount_cents,
            paid_top_up_max_amount_cents=data.paid_top_up_max_amount_cents,
            allowed_fee_types=list(
                dict.fromkeys((data.applies_to.fee_types or []) if data.applies_to else [])
            ),
            billable_metric_codes=list(
                dict.fromkeys((data.applies_to.billable_metric_codes or []) if data.applies_to else [])
            ),
            purchase_order_number=data.purchase_order_number,
            metadata_=dict(data.metadata) if data.metadata is not None else None,
        )
        self._validate_initial_credits(wallet, credits, data)
        if customer.currency is None:
            customer.currency = currency
        session.add(wallet)
        session.flush()
        if data.recurring_transaction_rules:
            rule_store.create_rules(
                session,
                wallet,
                data.recurring_transaction_rules,
                paid=credits.get("paid_credits"),
                granted=credits.get("granted_credits"),
            )
        top_up = TopUp(
            paid=credits.get("paid_credits"),
            granted=credits.get("granted_credits"),
            name=data.transaction_name or None,
            metadata=tuple((i.key or "", i.value or "") for i in data.transaction_metadata or []),
            priority=data.transaction_priority
            if data.transaction_priority is not None and 1 <= data.transaction_priority <= LOWEST_PRIORITY
            else LOWEST_PRIORITY,
            purchase_order_number=data.purchase_order_number,
        )
        # Announced before its first transactions (and the balance change they make).
        emit(session, organization.id, "wallet.created", "wallet", wallet.id)
        transaction_service.apply(session, organization, customer, wallet, top_up, now=now)
        return wallet

    def _validate_initial_credits(
        self, wallet: Wallet, credits: dict[str, Decimal], data: WalletInput
    ) -> None:
        errors = Errors()
        for field in ("paid_credits", "granted_credits"):
            number = credits.get(field)
            if number is None or floor_credits(number) <= 0:
                continue
            value = credit_value(number, wallet.rate_amount, wallet.currency)
            if value.amount_cents == 0:
                raise ValidationFailed.one(field, "amount_rounds_to_zero")
            if value.amount_cents > MAX_AMOUNT_CENTS:
                raise ValidationFailed.one(field, "value_is_out_of_range")
        paid = credits.get("paid_credits")
        if paid is not None and floor_credits(paid) > 0:
            check_paid_limits(
                wallet,
                credit_value(paid, wallet.rate_amount, wallet.currency),
                errors,
                ignore=bool(data.ignore_paid_top_up_limits_on_creation),
            )
        errors.raise_if_any()

    def _validate_fields(self, data: WalletInput, errors: Errors, existing: Wallet | None = None) -> None:
        """The wallet's own fields (Lago's model validations)."""
        if data.priority is not None and not 1 <= data.priority <= LOWEST_PRIORITY:
            errors.add("priority", "value_is_invalid")
        low = data.paid_top_up_min_amount_cents
        high = data.paid_top_up_max_amount_cents
        if low is not None and low <= 0:
            errors.add("paid_top_up_min_amount_cents", "value_is_out_of_range")
        if high is not None and high <= 0:
            errors.add("paid_top_up_max_amount_cents", "value_is_out_of_range")
        if existing is not None:
            provided = data.provided()
            low = low if "paid_top_up_min_amount_cents" in provided else existing.paid_top_up_min_amount_cents
            high = (
                high if "paid_top_up_max_amount_cents" in provided else existing.paid_top_up_max_amount_cents
            )
        if low is not None and high is not None and 0 < high < low:
            errors.add("paid_top_up_max_amount_cents", "must_be_greater_than_or_equal_min")
        for key in data.metadata or {}:
            if not key or len(key) > METADATA_MAX_KEY_LENGTH:
                errors.add("metadata", "value_is_invalid")

    def _limitation_errors(
        self, session: Session, organization: Organization, applies_to: AppliesToInput
    ) -> Errors:
        """Lago's ``ValidateLimitationsService``: known fee types, known metric codes."""
        errors = Errors()
        if any(t not in FEE_TYPES for t in applies_to.fee_types or []):
            errors.add("allowed_fee_types", "invalid_fee_types")
        codes = list(dict.fromkeys(applies_to.billable_metric_codes or []))
        if codes and len(repository.known_metric_codes(session, organization.id, codes)) != len(codes):
            errors.add("billable_metrics", "invalid_identifier")
        return errors

    # ------------------------------------------------------------------------------------ update

    def update(
        self, session: Session, organization: Organization, wallet: Wallet, data: WalletInput
    ) -> Wallet:
        if wallet.status == WalletStatus.TERMINATED:
            raise ValidationFailed.one("wallet_id", "wallet_is_terminated")
        now = utcnow()
        errors = Errors()
        expiration_at = parse_expiration(data.expiration_at, now, errors)
        errors.raise_if_any()
        rule_store.validate_rules(data.recurring_transaction_rules, errors, now)
        errors.raise_if_any()
        if data.applies_to is not None:
            self._limitation_errors(session, organization, data.applies_to).raise_if_any()
        self._validate_fields(data, errors, existing=wallet)
        if (
            data.code
            and data.code != wallet.code
            and repository.active_code_taken(session, wallet.customer_id, data.code, except_id=wallet.id)
        ):
            errors.add("code", "value_already_exist")
        errors.raise_if_any()

        provided = data.provided()
        if "name" in provided:
            wallet.name = data.name
        if data.code:
            wallet.code = data.code
        if data.priority is not None:
            wallet.priority = data.priority
        if expiration_at is not None:
            wallet.expiration_at = expiration_at
        if "purchase_order_number" in provided:
            wallet.purchase_order_number = data.purchase_order_number
        if data.invoice_requires_successful_payment is not None:
            wallet.invoice_requires_successful_payment = data.invoice_requires_successful_payment
        if "paid_top_up_min_amount_cents" in provided:
            wallet.paid_top_up_min_amount_cents = data.paid_top_up_min_amount_cents
        if "paid_top_up_max_amount_cents" in provided:
            wallet.paid_top_up_max_amount_cents = data.paid_top_up_max_amount_cents
        if data.applies_to is not None:
            if data.applies_to.fee_types is not None:
                wallet.allowed_fee_types = list(dict.fromkeys(data.applies_to.fee_types))
            if data.applies_to.billable_metric_codes is not None:
                wallet.billable_metric_codes = list(dict.fromkeys(data.applies_to.billable_metric_codes))
        if data.recurring_transaction_rules is not None:
            existing = repository.rules(session, [wallet])[wallet.id]
            rule_store.replace_rules(session, wallet, existing, data.recurring_transaction_rules, now)
        if data.metadata is not None:
            wallet.metadata_ = dict(data.metadata)
        wallet.updated_at = now
        session.flush()
        emit(session, organization.id, "wallet.updated", "wallet", wallet.id)
        return wallet

    # ------------------------------------------------------------------------------------ terminate

    def terminate(self, session: Session, wallet: Wallet, *, now: datetime | None = None) -> Wallet:
        """Terminate ``wallet`` and its recurring rules (a terminated wallet is answered unchanged)."""
        if wallet.status == WalletStatus.TERMINATED:
            return wallet
        now = now or utcnow()
        wallet.status = WalletStatus.TERMINATED
        wallet.terminated_at = now
        rule_store.terminate_rules(repository.rules(session, [wallet])[wallet.id], now)
        session.flush()
        emit(session, wallet.organization_id, "wallet.terminated", "wallet", wallet.id)
        return wallet

    def expire(self, session: Session, wallet_id: uuid.UUID, now: datetime) -> bool:
        """The expiration of one wallet: its remaining credits voided, then terminated. False when it is
        no longer active or not yet expired (another scan did it, or it was extended)."""
        if session.get(Wallet, wallet_id) is None:
            return False
        wallet = ledger.locked(session, wallet_id)
        if wallet.status != WalletStatus.ACTIVE or wallet.expiration_at is None or wallet.expiration_at > now:
            return False
        transaction_service.void_remaining(session, wallet, now)
        self.terminate(session, wallet, now=now)
        return True

    # ------------------------------------------------------------------------------------ consumption

    def shares(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, *, lock: bool = False
    ) -> list[WalletShare]:
        """The customer's active wallets as :func:`billow.wallets.consumption.allocate` takes them;
        ``lock``: locked until the transaction ends and read under the lock (an invoice being finalized:
        two invoices never spend the same balance)."""
        return [
            WalletShare(
                id=w.id,
                priority=w.priority,
                created_at=w.created_at,
                balance_cents=w.balance_cents,
                currency=w.currency,
                fee_types=tuple(w.allowed_fee_types or ()),
                billable_metric_codes=tuple(w.billable_metric_codes or ()),
            )
            for w in repository.active_of_customer(session, organization_id, customer_id, lock=lock)
        ]

    def consume(
        self, session: Session, invoice: Invoice, allocation: Mapping[uuid.UUID, int]
    ) -> list[WalletTransaction]:
        """An invoice pays ``allocation`` (cents per wallet, :func:`billow.wallets.consumption.allocate`)
        with prepaid credits: outbound ``invoiced`` settled transactions, balances decreased under lock."""
        now = utcnow()
        written = transaction_service.consume(session, invoice, allocation, now=now)
        for wallet_id in {t.wallet_id for t in written}:
            recurring.threshold_top_up(session, ledger.locked(session, wallet_id), now)
        return written

    def top_up(
        self, session: Session, organization: Organization, data: WalletTransactionInput
    ) -> list[WalletTransaction]:
        """``POST /wallet_transactions``: validate, write, then the threshold rule (after a void)."""
        wallet, top_up = transaction_service.request(session, organization, data)
        customer = session.get(Customer, wallet.customer_id)
        assert customer is not None
        now = utcnow()
        written = transaction_service.apply(session, organization, customer, wallet, top_up, now=now)
        if any(t.transaction_type == "outbound" for t in written):
            recurring.threshold_top_up(session, ledger.locked(session, wallet.id), now)
        return written

    # ------------------------------------------------------------------------------------ metadata

    def set_metadata(
        self, session: Session, wallet: Wallet, metadata: dict[str, str | None] | None, *, merge: bool = False
    ) -> dict[str, str | None] | None:
        """Replace (or merge into) the wallet's metadata; ``None`` deletes it all."""
        if wallet.status == WalletStatus.TERMINATED:
            raise ValidationFailed.one("wallet_id", "wallet_is_terminated")
        if metadata is not None:
            errors = Errors()
            for key in metadata:
                if not key or len(key) > METADATA_MAX_KEY_LENGTH:
                    errors.add("metadata", "value_is_invalid")
            errors.raise_if_any()
        if metadata is None:
            wallet.metadata_ = None
        elif merge and wallet.metadata_ is not None:
            wallet.metadata_ = {**wallet.metadata_, **metadata}
        else:
            wallet.metadata_ = dict(metadata)
        wallet.updated_at = utcnow()
        session.flush()
        emit(session, wallet.organization_id, "wallet.updated", "wallet", wallet.id)
        return wallet.metadata_

    def delete_metadata_key(self, session: Session, wallet: Wallet, key: str) -> dict[str, str | None] | None:
        if wallet.metadata_ is None:
            raise NotFound("metadata")
        wallet.metadata_ = {k: v for k, v in wallet.metadata_.items() if k != key}
        wallet.updated_at = utcnow()
        session.flush()
        emit(session, wallet.organization_id, "wallet.updated", "wallet", wallet.id)
        return wallet.metadata_


wallet_service = WalletService()
