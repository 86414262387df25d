"""The wallets' scans (Lago's hourly clock jobs, reference §5.2): expired wallets are terminated, their
remaining credits voided first; interval rules top their wallets up on their anniversaries
(:mod:`billow.wallets.recurring`). One transaction per wallet or rule, under the wallet's row lock: safe
to run twice."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from billow.wallets import recurring
from billow.wallets.repository import wallet_repository
from billow.wallets.service import wallet_service
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger(__name__)


def expire_wallet(session_factory: SessionFactory, item: str, now: datetime) -> bool:
    with session_factory() as session, session.begin():
        return wallet_service.expire(session, uuid.UUID(item), now)


@scan("wallets.terminate_expired", every=timedelta(hours=1), each=expire_wallet)
def find_expired(session_factory: SessionFactory, now: datetime) -> list[str]:
    with session_factory() as session:
        return [str(wallet_id) for wallet_id in wallet_repository.expired_ids(session, now)]


def interval_top_up(session_factory: SessionFactory, item: str, now: datetime) -> int:
    with session_factory() as session, session.begin():
        return len(recurring.interval_top_up(session, uuid.UUID(item), now))


@scan("wallets.interval_top_ups", every=timedelta(hours=1), each=interval_top_up)
def find_interval_top_ups(session_factory: SessionFactory, now: datetime) -> list[str]:
    with session_factory() as session:
        return [str(rule_id) for rule_id in recurring.due_interval_rules(session, now)]
