"""Plan rules, one module per use case; the singletons are re-exported here."""

from billow.plans.service.charges import charge_filter_service, charge_service
from billow.plans.service.plans import plan_metadata_service, plan_service

__all__ = ["charge_filter_service", "charge_service", "plan_metadata_service", "plan_service"]
