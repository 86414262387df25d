"""A customer's stored payment methods (Lago's ``payment_methods``)."""
