"""Every table of Billow, one module per domain (``billow.models.<domain>``).

The tables sit below every domain package (as Polar's ``models`` package), so that a repository can
read another domain's table without importing that domain: the import graph of the domains stays
acyclic (``tests/test_architecture.py``). A model module imports only ``billow.db``, ``billow.kit`` and
other model modules. Importing this package imports every model module, so that ``metadata`` knows
every table (migrations, tests) and the PostgreSQL usage-rollup trigger is installed with
``metadata.create_all``.
"""

from __future__ import annotations

from billow.db import Base
from billow.models import (  # noqa: F401
    access,
    add_ons,
    alerts,
    audit,
    billable_metrics,
    billing,
    coupons,
    credit_notes,
    customers,
    documents,
    dunning,
    events,
    integrations,
    invoices,
    mail,
    metering,
    organizations,
    payment_methods,
    payments,
    plans,
    subscriptions,
    taxes,
    wallets,
    webhook_endpoints,
    webhooks,
)

metadata = Base.metadata
