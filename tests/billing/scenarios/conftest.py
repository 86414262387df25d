"""Billing scenarios: whole subscription cycles billed by :func:`billow.billing.run.bill_due` at frozen
instants, on SQLite and PostgreSQL. Every expected amount is hand-computed in a comment next to it."""
