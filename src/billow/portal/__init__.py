"""The customer portal: a signed, expiring link to a customer's usage, invoices and wallets (/portal)."""
