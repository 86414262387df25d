"""The billing runs' figures for ``/metrics`` (:mod:`billow.kit.metrics`): duration, invoices, failures."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, ParamSpec

from billow.kit import metrics

if TYPE_CHECKING:
    from billow.billing.run import BillingSummary

P = ParamSpec("P")


def observed_run(kind: str) -> Callable[[Callable[P, BillingSummary]], Callable[P, BillingSummary]]:
    """Observe every run of the decorated function (``kind``: ``scan`` or ``subscriptions``), including
    the ones that raise (their duration; no invoice count)."""

    def decorate(function: Callable[P, BillingSummary]) -> Callable[P, BillingSummary]:
        @functools.wraps(function)
        def observed(*args: P.args, **kwargs: P.kwargs) -> BillingSummary:
            began = time.perf_counter()
            try:
                summary = function(*args, **kwargs)
            finally:
                metrics.BILLING_RUN_DURATION.labels(kind).observe(time.perf_counter() - began)
            metrics.BILLING_RUN_INVOICES.labels(kind).observe(summary.invoices_created)
            if summary.failed:
                metrics.BILLING_FAILURES.inc(len(summary.failed))
            return summary

        return observed

    return decorate
