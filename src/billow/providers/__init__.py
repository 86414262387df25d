"""Payment, accounting and CRM providers (issue 13).

A provider is a class implementing one of the interfaces of :mod:`billow.providers.interface`
(:class:`PaymentProvider`, :class:`AccountingProvider`, :class:`CrmProvider`). It knows its provider's API
and nothing of Billow's database: it receives plain, frozen snapshots (:class:`CustomerData`,
:class:`InvoiceData`...) and a :class:`ProviderContext` (the integration's settings and opened secrets) and
returns results (:class:`SyncResult`, :class:`PaymentResult`...), or raises :class:`ProviderError`.

Providers are found through the Python entry point group ``billow.providers`` (:mod:`.registry`): Billow's
own are declared in its ``pyproject.toml``; a third party ships its own in its own package
(``docs/integrations.md``). :mod:`billow.integrations` owns the rest: the per-organization configuration,
the jobs that call providers outside any transaction with retries, the inbound webhooks.
"""
