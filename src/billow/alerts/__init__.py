"""Alerts on wallets and subscriptions (Lago's usage monitoring): storage, the API of both targets, and
the evaluation of wallet alerts when a wallet's balances change (:mod:`billow.alerts.evaluation`)."""
