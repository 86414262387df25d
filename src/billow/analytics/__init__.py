"""Analytics (Lago's ``/analytics/*``): monthly figures read from invoices, fees and subscriptions."""
