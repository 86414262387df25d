"""Retention of the audit log: scan ``audit.prune`` deletes the activity logs older than
``BILLOW_AUDIT_RETENTION_DAYS`` (365) and the API logs older than ``BILLOW_AUDIT_API_LOG_RETENTION_DAYS``
(30), every hour, in every organization (one indexed ``DELETE`` each, on ``logged_at``).

Importing this module (the worker and the in-process scheduler load it with the scans) also installs the
capture of activity logs (:func:`billow.audit.capture.install`): a worker process logs what its tasks
change as ``system``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from billow.audit.capture import install
from billow.audit.service import audit_service
from billow.config import current_settings
from billow.worker.scans import SessionFactory, scan

install()


@scan("audit.prune", every=timedelta(hours=1))
def prune(session_factory: SessionFactory, now: datetime) -> tuple[int, int]:
    """Delete the logs past their retention; the numbers deleted (activity logs, API logs)."""
    settings = current_settings()
    with session_factory() as session, session.begin():
        return audit_service.prune(
            session, now, settings.audit_retention_days, settings.audit_api_log_retention_days
        )
