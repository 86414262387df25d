"""The value a wallet alert watches (Lago's ``find_value`` of each wallet alert type)."""

from __future__ import annotations

from decimal import Decimal

from billow.models.alerts import AlertType
from billow.models.wallets import Wallet


def wallet_value(wallet: Wallet, alert_type: str) -> Decimal:
    """Balances in cents for the amount types, in credits for the credit types."""
    if alert_type == AlertType.WALLET_BALANCE_AMOUNT:
        return Decimal(wallet.balance_cents)
    if alert_type == AlertType.WALLET_CREDITS_BALANCE:
        return Decimal(wallet.credits_balance)
    if alert_type == AlertType.WALLET_ONGOING_BALANCE_AMOUNT:
        return Decimal(wallet.ongoing_balance_cents)
    if alert_type == AlertType.WALLET_CREDITS_ONGOING_BALANCE:
        return Decimal(wallet.credits_ongoing_balance)
    raise ValueError(f"not a wallet alert type: {alert_type}")
