"""The customer-usage API: ``GET /customers/{id}/current_usage``, ``GET /customers/{id}/past_usage`` and
``POST /events/estimate_fees``. Finding the objects and validating the requests (with Lago's errors, in
its order) is here; the computations are :mod:`billow.fees`.
"""
