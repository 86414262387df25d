from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.wallets import RecurringTransactionRule, Wallet, WalletStatus, WalletTransaction


class WalletRepository:
    def get(self, session: Session, organization_id: uuid.UUID, wallet_id: uuid.UUID) -> Wallet | None:
        return session.scalars(
            select(Wallet).where(Wallet.organization_id == organization_id, Wallet.id == wallet_id)
        ).first()

    def by_code(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, code: str
    ) -> Wallet | None:
        """The customer's wallet with this code: the active one, else the latest terminated."""
        return session.scalars(
            select(Wallet)
            .where(
                Wallet.organization_id == organization_id,
                Wallet.customer_id == customer_id,
                Wallet.code == code,
            )
            .order_by((Wallet.status == WalletStatus.ACTIVE).desc(), Wallet.created_at.desc(), Wallet.id)
        ).first()

    def active_code_taken(
        self, session: Session, customer_id: uuid.UUID, code: str, *, except_id: uuid.UUID | None = None
    ) -> bool:
        stmt = select(Wallet.id).where(
            Wallet.customer_id == customer_id, Wallet.code == code, Wallet.status == WalletStatus.ACTIVE
        )
        if except_id is not None:
            stmt = stmt.where(Wallet.id != except_id)
        return session.scalar(stmt.limit(1)) is not None

    def active_count(self, session: Session, customer_id: uuid.UUID) -> int:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Wallet)
                .where(Wallet.customer_id == customer_id, Wallet.status == WalletStatus.ACTIVE)
            )
            or 0
        )

    def active_of_customer(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, *, lock: bool = False
    ) -> list[Wallet]:
        """The customer's active wallets in application order (priority, then oldest); ``lock``: locked
        until the transaction ends and read under the lock (PostgreSQL ``FOR UPDATE``; SQLite: a no-op
        ``UPDATE`` takes the database's write lock first)."""
        active = (
            (Wallet.organization_id == organization_id)
            & (Wallet.customer_id == customer_id)
            & (Wallet.status == WalletStatus.ACTIVE)
        )
        query = select(Wallet).where(active).order_by(Wallet.priority, Wallet.created_at, Wallet.id)
        if not lock:
            return list(session.scalars(query))
        query = query.execution_options(populate_existing=True)
        if session.get_bind().dialect.name == "postgresql":
            return list(session.scalars(query.with_for_update()))
        table = Wallet.__table__
        session.execute(update(table).where(active).values(updated_at=table.c.updated_at))
        return list(session.scalars(query))

    def expired_ids(self, session: Session, now: datetime) -> list[uuid.UUID]:
        return list(
            session.scalars(
                select(Wallet.id).where(
                    Wallet.status == WalletStatus.ACTIVE,
                    Wallet.expiration_at.is_not(None),
                    Wallet.expiration_at <= now,
                )
            )
        )

    def list_stmt(
        self, organization_id: uuid.UUID, *, customer_id: uuid.UUID | None, currency: str | None = None
    ) -> Select[Wallet]:
        stmt = select(Wallet).where(Wallet.organization_id == organization_id)
        if customer_id is not None:
            stmt = stmt.where(Wallet.customer_id == customer_id)
        if currency:
            stmt = stmt.where(Wallet.currency == currency)
        return stmt.order_by(Wallet.created_at.desc(), Wallet.id)

    def customers(self, session: Session, wallets: Sequence[Wallet]) -> dict[uuid.UUID, Customer]:
        ids = {w.customer_id for w in wallets}
        if not ids:
            return {}
        return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}

    def rules(
        self, session: Session, wallets: Sequence[Wallet]
    ) -> dict[uuid.UUID, list[RecurringTransactionRule]]:
        found: dict[uuid.UUID, list[RecurringTransactionRule]] = {w.id: [] for w in wallets}
        if not wallets:
            return found
        rows = session.scalars(
            select(RecurringTransactionRule)
            .where(RecurringTransactionRule.wallet_id.in_(list(found)))
            .order_by(RecurringTransactionRule.created_at, RecurringTransactionRule.id)
        )
        for rule in rows:
            found[rule.wallet_id].append(rule)
        return found

    def known_metric_codes(
        self, session: Session, organization_id: uuid.UUID, codes: Sequence[str]
    ) -> set[str]:
        if not codes:
            return set()
        return set(
            session.scalars(
                select(BillableMetric.code).where(
                    BillableMetric.organization_id == organization_id,
                    BillableMetric.code.in_(list(codes)),
                    BillableMetric.deleted_at.is_(None),
                )
            )
        )

    # ------------------------------------------------------------------------------ transactions

    def transaction(
        self, session: Session, organization_id: uuid.UUID, transaction_id: uuid.UUID
    ) -> WalletTransaction | None:
        return session.scalars(
            select(WalletTransaction).where(
                WalletTransaction.organization_id == organization_id, WalletTransaction.id == transaction_id
            )
        ).first()

    def transactions_stmt(
        self,
        organization_id: uuid.UUID,
        wallet_id: uuid.UUID,
        *,
        status: str | None = None,
        transaction_type: str | None = None,
        transaction_status: str | None = None,
    ) -> Select[WalletTransaction]:
        stmt = select(WalletTransaction).where(
            WalletTransaction.organization_id == organization_id, WalletTransaction.wallet_id == wallet_id
        )
        if status:
            stmt = stmt.where(WalletTransaction.status == status)
        if transaction_type:
            stmt = stmt.where(WalletTransaction.transaction_type == transaction_type)
        if transaction_status:
            stmt = stmt.where(WalletTransaction.transaction_status == transaction_status)
        return stmt.order_by(WalletTransaction.created_at.desc(), WalletTransaction.id)

    def pending_purchases_of_invoice(
        self, session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID
    ) -> list[WalletTransaction]:
        return list(
            session.scalars(
                select(WalletTransaction).where(
                    WalletTransaction.organization_id == organization_id,
                    WalletTransaction.invoice_id == invoice_id,
                    WalletTransaction.transaction_status == "purchased",
                    WalletTransaction.status == "pending",
                )
            )
        )


wallet_repository = WalletRepository()
