"""Integrations (issue 13): per-organization providers, their jobs and inbound webhooks."""
