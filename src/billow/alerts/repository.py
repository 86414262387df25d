"""Every query of alerts: live alerts of a target, their thresholds, the rows an answer needs."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, select, update
from sqlalchemy.orm import Session

from billow.models.alerts import Alert, AlertThreshold
from billow.models.billable_metrics import BillableMetric
from billow.models.wallets import Wallet


class Target:
    """What an alert watches: a wallet or a subscription's external id (exactly one)."""

    def __init__(self, *, wallet: Wallet | None = None, subscription_external_id: str | None = None) -> None:
        assert (wallet is None) != (subscription_external_id is None)
        self.wallet = wallet
        self.subscription_external_id = subscription_external_id

    @property
    def is_wallet(self) -> bool:
        return self.wallet is not None

    def where(self, organization_id: uuid.UUID) -> list[ColumnElement[bool]]:
        clauses: list[ColumnElement[bool]] = [
            Alert.organization_id == organization_id,
            Alert.deleted_at.is_(None),
        ]
        if self.wallet is not None:
            clauses.append(Alert.wallet_id == self.wallet.id)
        else:
            clauses.append(Alert.subscription_external_id == self.subscription_external_id)
        return clauses


class AlertRepository:
    def list_stmt(self, organization_id: uuid.UUID, target: Target) -> Select[Alert]:
        # Lago's order: the newest first.
        return select(Alert).where(*target.where(organization_id)).order_by(Alert.created_at.desc(), Alert.id)

    def live(self, session: Session, organization_id: uuid.UUID, target: Target) -> list[Alert]:
        return list(session.scalars(self.list_stmt(organization_id, target)))

    def by_code(
        self, session: Session, organization_id: uuid.UUID, target: Target, code: str
    ) -> Alert | None:
        return session.scalars(
            select(Alert).where(*target.where(organization_id), Alert.code == code)
        ).first()

    def code_taken(
        self,
        session: Session,
        organization_id: uuid.UUID,
        target: Target,
        code: str,
        *,
        other_than: uuid.UUID | None,
    ) -> bool:
        stmt = select(Alert.id).where(*target.where(organization_id), Alert.code == code)
        if other_than is not None:
            stmt = stmt.where(Alert.id != other_than)
        return session.scalars(stmt.limit(1)).first() is not None

    def type_taken(
        self,
        session: Session,
        organization_id: uuid.UUID,
        target: Target,
        alert_type: str,
        billable_metric_id: uuid.UUID | None,
        *,
        other_than: uuid.UUID | None,
    ) -> bool:
        stmt = select(Alert.id).where(*target.where(organization_id), Alert.alert_type == alert_type)
        if other_than is not None:
            stmt = stmt.where(Alert.id != other_than)
        if billable_metric_id is None:
            stmt = stmt.where(Alert.billable_metric_id.is_(None))
        else:
            stmt = stmt.where(Alert.billable_metric_id == billable_metric_id)
        return session.scalars(stmt.limit(1)).first() is not None

    def thresholds(
        self, session: Session, alert_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[AlertThreshold]]:
        result: dict[uuid.UUID, list[AlertThreshold]] = defaultdict(list)
        if not alert_ids:
            return result
        rows = session.scalars(
            select(AlertThreshold)
            .where(AlertThreshold.alert_id.in_(alert_ids))
            .order_by(AlertThreshold.position, AlertThreshold.id)
        )
        for row in rows:
            result[row.alert_id].append(row)
        return result

    def delete_thresholds(self, session: Session, alert_ids: Sequence[uuid.UUID]) -> None:
        if not alert_ids:
            return
        for row in session.scalars(select(AlertThreshold).where(AlertThreshold.alert_id.in_(alert_ids))):
            session.delete(row)
        session.flush()

    def soft_delete(self, session: Session, alert_ids: Sequence[uuid.UUID], now: datetime) -> None:
        if alert_ids:
            session.execute(
                update(Alert).where(Alert.id.in_(alert_ids)).values(deleted_at=now, updated_at=now),
                execution_options={"synchronize_session": "fetch"},
            )

    def metric_by_code(
        self, session: Session, organization_id: uuid.UUID, code: str
    ) -> BillableMetric | None:
        return session.scalars(
            select(BillableMetric).where(
                BillableMetric.organization_id == organization_id,
                BillableMetric.code == code,
                BillableMetric.deleted_at.is_(None),
            )
        ).first()

    def metrics(self, session: Session, metric_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, BillableMetric]:
        if not metric_ids:
            return {}
        return {
            m.id: m for m in session.scalars(select(BillableMetric).where(BillableMetric.id.in_(metric_ids)))
        }

    def wallet_codes(self, session: Session, wallet_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        if not wallet_ids:
            return {}
        rows = session.execute(select(Wallet.id, Wallet.code).where(Wallet.id.in_(wallet_ids)))
        return {wallet_id: code for wallet_id, code in rows}

    def wallet_alerts(self, session: Session, wallet: Wallet) -> list[Alert]:
        """The wallet's live alerts, for an evaluation."""
        return list(
            session.scalars(
                select(Alert)
                .where(
                    Alert.organization_id == wallet.organization_id,
                    Alert.wallet_id == wallet.id,
                    Alert.deleted_at.is_(None),
                )
                .order_by(Alert.created_at, Alert.id)
            )
        )


alert_repository = AlertRepository()
