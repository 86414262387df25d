"""Imports every model module so that ``metadata`` knows every table (migrations, tests)."""

from __future__ import annotations

from billow.add_ons import models as _add_ons  # noqa: F401
from billow.billable_metrics import models as _billable_metrics  # noqa: F401
from billow.billing import models as _billing  # noqa: F401
from billow.coupons import models as _coupons  # noqa: F401
from billow.credit_notes import models as _credit_notes  # noqa: F401
from billow.customers import models as _customers  # noqa: F401
from billow.db import Base
from billow.events import models as _events  # noqa: F401
from billow.invoices import models as _invoices  # noqa: F401
from billow.metering import models as _metering  # noqa: F401
from billow.metering import rollups as _rollups  # noqa: F401  (installs the events trigger with create_all)
from billow.organizations import models as _organizations  # noqa: F401
from billow.plans import models as _plans  # noqa: F401
from billow.subscriptions import models as _subscriptions  # noqa: F401
from billow.taxes import models as _taxes  # noqa: F401
from billow.webhook_endpoints import models as _webhook_endpoints  # noqa: F401

metadata = Base.metadata
