"""What a charge costs, with taxes, over a window: above :mod:`billow.metering` (how many units),
:mod:`billow.pricing` (what units cost) and :mod:`billow.taxes`; below billing and the usage API.

* :mod:`billow.fees.window`: one charge's fees over a window (:func:`~billow.fees.window.charge_fees`),
  and a subscription's (or a batch's) charge fees over a closed window, what an invoice bills;
* :mod:`billow.fees.usage`: current usage (what the charges cost so far in the period);
* :mod:`billow.fees.in_advance`: the fee of one pay-in-advance event, incoming (an estimate) or stored.
"""
